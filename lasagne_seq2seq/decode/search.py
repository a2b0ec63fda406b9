"""The search state shared by every strategy, in NumPy.

:class:`Hypotheses` holds the live hypotheses of a batch of questions (decoder
and language-model arrays, one row each) and advances them one step;
:func:`sample_tokens` draws the next tokens from the random streams of
:func:`question_streams`; :class:`Candidate` is a finished hypothesis.
"""
from dataclasses import dataclass
from typing import List
import zlib

import numpy as np


@dataclass
class Candidate:
    """A finished hypothesis: token ids (no EOS) and its scores."""
    ids: List[int]
    log_prob: float
    length: int
    score: float


def repeated_ngram_tokens(ids, n):
    """Tokens that would repeat an ``n``-gram of ``ids`` if appended.

    Examples
    --------
    >>> repeated_ngram_tokens([5, 6, 7, 5], 2)
    [6]
    >>> repeated_ngram_tokens([5, 6], 1)
    [5, 6]
    """
    prefix = list(ids[len(ids) - n + 1:]) if n > 1 else []
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if list(ids[i:i + n - 1]) == prefix]


class Hypotheses(object):
    """The live hypotheses of a search: decoder (and LM) arrays, one row each.

    Every array has the hypotheses on axis 0, so :meth:`take` reorders and
    repeats them for beam search.

    Parameters
    ----------
    main : _CompiledNet
    encoded : list of arrays
        ``[state, *extras]`` per question.
    copies : int
        Rows per question (beam width or number of samples).
    options : DecodeOptions
    lm : _CompiledNet, optional
        The language model for anti-LM scoring.
    lm_encoded : list of arrays, optional
        The language model's ``[state, *extras]`` per question.
    """

    def __init__(self, main, encoded, copies, options, lm=None, lm_encoded=None):
        self.main, self.lm, self.options = main, lm, options
        self.arrays = [np.repeat(a, copies, axis=0) for a in encoded]
        self.lm_arrays = [np.repeat(a, copies, axis=0) for a in lm_encoded] if lm else None
        # Sum of the decoder states so far (the initial one included), for averaging.
        self.state_sum = self.arrays[0].copy()
        self.num_states = 1
        self.history = np.zeros((len(self.arrays[0]), 0), dtype=np.int32)

    def __len__(self):
        return len(self.history)

    def take(self, rows):
        """Keep (and repeat) the hypotheses at ``rows``."""
        self.arrays = [a[rows] for a in self.arrays]
        if self.lm_arrays is not None:
            self.lm_arrays = [a[rows] for a in self.lm_arrays]
        self.state_sum = self.state_sum[rows]
        self.history = self.history[rows]

    def append(self, tokens):
        """Record each row's chosen token."""
        self.history = np.column_stack([self.history, tokens]).astype(np.int32)

    def step(self, previous):
        """Advance every row by its previous token.

        Returns
        -------
        log_probs : float64 (rows, vocab)
            The model's ``log p(next token)``.
        scores : float64 (rows, vocab)
            The search scores: ``log_probs``, minus the anti-LM term during
            the first ``antilm_gamma`` steps, with blocked tokens (and
            ``<unk>``, unless ``allow_unk``) at -inf. Every strategy chooses
            from these, so no strategy can emit a masked token.
        """
        options, t = self.options, self.history.shape[1]
        state, *extras = self.arrays
        a = options.average_states
        fed = (1 - a) * state + a * (self.state_sum / self.num_states) if a else state
        log_probs, new_state = self.main.step_fn(previous, fed.astype(state.dtype), *extras)[:2]
        self.arrays[0] = new_state
        self.state_sum = self.state_sum + new_state
        self.num_states += 1
        log_probs = log_probs.astype(np.float64)
        scores = log_probs.copy()
        if self.lm is not None and t < options.antilm_gamma:
            lm_state, *lm_extras = self.lm_arrays
            lm_log_probs, self.lm_arrays[0] = self.lm.step_fn(previous, lm_state, *lm_extras)[:2]
            scores -= options.antilm_lambda * lm_log_probs
        if not options.allow_unk:
            scores[:, self.main.vocab.unk_id] = -np.inf
        if options.block_ngram:
            for row, ids in enumerate(self.history):
                scores[row, repeated_ngram_tokens(list(ids), options.block_ngram)] = -np.inf
        return log_probs, scores


def until_eos(ids, eos_id):
    """``ids`` up to (without) the first EOS."""
    ids = [int(i) for i in ids]
    return ids[:ids.index(eos_id)] if eos_id in ids else ids


def normalised(score, length, alpha):
    return score / max(length, 1) ** alpha if alpha else score


def question_streams(questions, seed):
    """One random stream per question, seeded by ``seed`` and the question's
    token ids: a question's draws, and so its sampled reply, do not depend on
    the questions decoded beside it (a batch, or the server's batcher).
    Unseeded, every question gets a stream of its own from the system's
    entropy, so the same question twice in one batch gets two draws.

    Parameters
    ----------
    questions : list of int sequences
        Each question's token ids.
    seed : int or None
        None: independent streams, seeded at random.

    Returns
    -------
    list of numpy.random.RandomState

    Examples
    --------
    >>> a, b = question_streams([[5, 6], [7]], 0)
    >>> c, = question_streams([[7]], 0)
    >>> b.random_sample() == c.random_sample()
    True
    """
    if seed is None:
        return [np.random.RandomState() for _ in questions]
    return [np.random.RandomState(zlib.crc32(np.asarray(ids, np.int32).tobytes(),
                                             seed & 0xFFFFFFFF))
            for ids in questions]


def sample_tokens(scores, options, draws):
    """One categorical draw per row from the filtered, tempered scores.

    Parameters
    ----------
    scores : float64 (rows, vocab)
        Log-domain scores (``-inf`` for forbidden tokens).
    options : DecodeOptions
        ``temperature``, ``top_k`` and ``top_p``.
    draws : float64 (rows,)
        One uniform draw in [0, 1) per row.

    Returns
    -------
    int32 (rows,)
    """
    logits = scores / options.temperature
    if 0 < options.top_k < logits.shape[1]:
        kth = np.partition(logits, -options.top_k, axis=1)[:, -options.top_k]
        logits = np.where(logits < kth[:, None], -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    if options.top_p < 1:
        order = np.argsort(-probs, axis=1)
        sorted_probs = np.take_along_axis(probs, order, axis=1)
        # Keep a token while the mass before it is below top_p (the best always stays).
        keep_sorted = np.cumsum(sorted_probs, axis=1) - sorted_probs < options.top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=1, keepdims=True)
    tokens = (np.cumsum(probs, axis=1) < np.asarray(draws)[:, None]).sum(axis=1)
    return np.minimum(tokens, probs.shape[1] - 1).astype(np.int32)
