"""Decoding replies from a trained network.

:class:`Decoder` compiles the network's encoder and single decoder step once
(:meth:`~lasagne_seq2seq.models.Seq2Seq.compile_decoder`) and runs every
strategy on them in NumPy, a batch of questions at a time: each step costs one
call for all live hypotheses of all questions, and no prefix is ever re-run.

Strategies (:class:`DecodeOptions`):

* **greedy**: the best token at every step;
* **beam**: beam search with length normalisation, EOS-finished hypotheses
  set aside, n-best lists and optional n-gram repeat blocking;
* **sample**: a categorical draw at every step, with temperature, top-k and
  top-p (nucleus) filtering, seeded.

On top of any strategy: **MMI-antiLM** (Li et al. 2016), which scores each of
the first ``antilm_gamma`` tokens by ``log p(t|S) - lambda log p(t)`` with a
language model of replies; **MMI-bidi**, which reranks the n-best list by
``score + mu log p(S|T)`` with a backward model; and **averaged states**
(seed 002), which feed the decoder ``(1 - a) * last + a * mean`` of its states.
:class:`Conversation` carries the encoder's state across exchanges (seed
001's ``remember_state``).
"""
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from .data import source_batch
from .errors import Seq2SeqError
from .text import detokenize, tokenize

__all__ = ["AttentionMap", "Decoder", "DecodeOptions", "Reply", "Conversation", "SAMPLE_QUESTIONS",
           "STRATEGIES", "load_decoder"]

#: The questions of the original README's two result tables (v1, then v2).
SAMPLE_QUESTIONS = (
    "what do you think about bill gates?", "what happens if machines can think?",
    "what is the greatest novel every written?", "have you hurt anyone?",
    "is madrid the capital of portugal?", "what is the meaning of life?",
    "my name is david. what is my name?", "my name is john. what is my name?",
    "what is the purpose of being intelligent?", "is the sky blue or black?",
    "what is love?", "what do you think about tesla?", "what do you think about china?",
    "hi", "hello", "how are you?", "hey what's up?", "how come?", "how old are you?",
    "what is two plus two?", "what is your name?", "bye, sweety",
)

STRATEGIES = ("greedy", "beam", "sample")


@dataclass
class DecodeOptions:
    """How to decode; every field has a ``bin/test.py`` flag of the same name.

    Attributes
    ----------
    strategy : {"greedy", "beam", "sample"}
    beam : int
        Beam width (beam search), and the number of samples drawn for
        MMI-bidi reranking (sampling).
    nbest : int
        Replies returned per question, best first.
    alpha : float
        Length normalisation: hypotheses are ranked by ``score / length**alpha``
        (length counts EOS); 0 ranks by the plain sum.
    max_len : int, optional
        Longest reply in tokens (the decoder's default when None).
    block_ngram : int
        Forbid a token that would repeat an n-gram of this size already in
        the reply (0: off).
    temperature, top_k, top_p : float, int, float
        Sampling: divide the scores by ``temperature``, keep the ``top_k``
        best tokens (0: all) and the smallest set holding ``top_p`` of the
        probability.
    seed : int, optional
        Seed of the sampling generator (fresh entropy when None).
    antilm_lambda, antilm_gamma : float, int
        MMI-antiLM: subtract ``antilm_lambda * log p_LM(token)`` from the
        scores of the first ``antilm_gamma`` tokens.
    mmi_bidi_lambda : float
        MMI-bidi: rerank the candidates by ``score + mmi_bidi_lambda * log p(S|T)``.
    average_states : float
        Feed the decoder ``(1 - a) * last state + a * mean of its states so far``.

    Examples
    --------
    >>> DecodeOptions(strategy="beam", beam=5, nbest=3).validate().nbest
    3
    >>> DecodeOptions(temperature=0).validate()
    Traceback (most recent call last):
    ...
    lasagne_seq2seq.errors.Seq2SeqError: --temperature must be > 0 (got 0)
    """
    strategy: str = "greedy"
    beam: int = 10
    nbest: int = 1
    alpha: float = 0.0
    max_len: Optional[int] = None
    block_ngram: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: Optional[int] = None
    antilm_lambda: float = 0.0
    antilm_gamma: int = 5
    mmi_bidi_lambda: float = 0.0
    average_states: float = 0.0

    def validate(self, has_lm=False, has_backward=False):
        """Raise :class:`Seq2SeqError` naming the flag of the first invalid setting.

        Parameters
        ----------
        has_lm, has_backward : bool
            Whether a language model / a backward model is loaded.

        Returns
        -------
        DecodeOptions
            ``self``, for chaining.
        """
        checks = [
            (self.strategy in STRATEGIES, "--strategy must be one of %s (got %r)"
             % (", ".join(STRATEGIES), self.strategy)),
            (self.beam >= 1, "--beam must be at least 1 (got %s)" % self.beam),
            (self.nbest >= 1, "--nbest must be at least 1 (got %s)" % self.nbest),
            (self.strategy != "beam" or self.nbest <= self.beam,
             "--nbest %s exceeds --beam %s: a beam holds at most --beam replies"
             % (self.nbest, self.beam)),
            (self.strategy != "greedy" or self.nbest == 1,
             "--nbest %s needs --strategy beam or sample (greedy finds one reply)" % self.nbest),
            (self.alpha >= 0, "--alpha must be >= 0 (got %s)" % self.alpha),
            (self.max_len is None or self.max_len >= 1,
             "--max-len must be at least 1 (got %s)" % self.max_len),
            (self.block_ngram >= 0, "--block-ngram must be >= 0, 0 is off (got %s)"
             % self.block_ngram),
            (self.temperature > 0, "--temperature must be > 0 (got %s)" % self.temperature),
            (self.top_k >= 0, "--top-k must be >= 0, 0 is off (got %s)" % self.top_k),
            (0 < self.top_p <= 1, "--top-p must be in (0, 1] (got %s)" % self.top_p),
            (self.antilm_lambda >= 0, "--antilm-lambda must be >= 0 (got %s)"
             % self.antilm_lambda),
            (self.antilm_gamma >= 1, "--antilm-gamma must be at least 1 (got %s)"
             % self.antilm_gamma),
            (self.antilm_lambda == 0 or has_lm,
             "--antilm-lambda needs a language model: pass --lm RUN_DIR "
             "(trained with bin/train.py --model lm)"),
            (self.mmi_bidi_lambda >= 0, "--mmi-bidi-lambda must be >= 0 (got %s)"
             % self.mmi_bidi_lambda),
            (self.mmi_bidi_lambda == 0 or has_backward,
             "--mmi-bidi-lambda needs a backward model: pass --backward RUN_DIR "
             "(trained with bin/train.py --reverse)"),
            (self.mmi_bidi_lambda == 0 or self.strategy != "greedy",
             "--mmi-bidi-lambda reranks several candidates: use --strategy beam or sample"),
            (0 <= self.average_states <= 1, "--average-states must be in [0, 1] (got %s)"
             % self.average_states),
        ]
        for ok, message in checks:
            if not ok:
                raise Seq2SeqError(message)
        return self

    @classmethod
    def from_dict(cls, values):
        """Options from a JSON object, rejecting unknown keys and wrong types.

        Examples
        --------
        >>> DecodeOptions.from_dict({"strategy": "beam", "alpha": 1}).alpha
        1
        >>> DecodeOptions.from_dict({"beams": 3})
        Traceback (most recent call last):
        ...
        lasagne_seq2seq.errors.Seq2SeqError: unknown decoding option beams: known are strategy, \
beam, nbest, alpha, max_len, block_ngram, temperature, top_k, top_p, seed, antilm_lambda, \
antilm_gamma, mmi_bidi_lambda, average_states
        """
        if not isinstance(values, dict):
            raise Seq2SeqError("decoding options must be a JSON object, got %s"
                               % type(values).__name__)
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise Seq2SeqError("unknown decoding option%s %s: known are %s" % (
                "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(fields)))
        for name, value in values.items():
            allowed = typing.get_args(fields[name]) or (fields[name],)  # Optional[int]: int, None
            if float in allowed:
                allowed += (int,)
            if isinstance(value, bool) or not isinstance(value, allowed):
                raise Seq2SeqError("decoding option %s must be %s, got %r" % (
                    name, " or ".join("null" if t is type(None) else t.__name__ for t in allowed),
                    value))
        return cls(**values)


@dataclass
class Reply:
    """One decoded reply.

    Attributes
    ----------
    tokens : list of str
        The reply's tokens, without EOS.
    text : str
        The tokens detokenized for reading.
    log_prob : float
        Sum of the log-probabilities of the tokens and of EOS (if emitted).
    mean_log_prob : float
        ``log_prob`` per scored token.
    unknown : list of str
        Words of the question that the vocabulary does not know (read as UNK).
    score : float
        The strategy's ranking score (``log_prob`` for plain greedy decoding;
        with anti-LM, length normalisation or MMI-bidi, the adjusted score).
    """
    tokens: List[str]
    text: str
    log_prob: float
    mean_log_prob: float
    unknown: List[str] = field(default_factory=list)
    score: float = 0.0


@dataclass
class AttentionMap:
    """The attention weights behind one reply (:meth:`Decoder.attention_map`).

    Attributes
    ----------
    source : list of str
        The question's tokens as the encoder read them, in reading order.
    target : list of str
        The reply's tokens, then ``</s>`` (the step that ended the reply).
    weights : float array ``(len(target), len(source))``
        Row ``t``: the attention over the source when ``target[t]`` was
        predicted; each row sums to 1.
    reply : Reply
    """
    source: List[str]
    target: List[str]
    weights: np.ndarray
    reply: Reply


@dataclass
class _Candidate:
    """A finished hypothesis: token ids (no EOS) and its scores."""
    ids: List[int]
    log_prob: float
    length: int
    score: float


class _CompiledNet(object):
    """A network's compiled encoder and step, with its tokenization settings."""

    def __init__(self, net, vocab, config):
        self.net, self.vocab, self.config = net, vocab, config
        self.encode_fn, self.step_fn = net.compile_decoder()

    def source(self, id_lists):
        """``(src, src_mask)`` for lists of ids, reversed as the network was trained."""
        return source_batch([ids or [self.vocab.unk_id] for ids in id_lists],
                            reverse=self.config.model.reverse_source)

    def sequence_log_probs(self, sources, targets):
        """``log p(target | source)`` (EOS included) under teacher forcing.

        Parameters
        ----------
        sources, targets : list of list of int

        Returns
        -------
        numpy array, one float per pair
        """
        expected, mask, steps = self.teacher_forced(sources, targets)
        rows = np.arange(len(targets))
        return sum(log_probs[rows, expected[:, t]] * mask[:, t]
                   for t, (log_probs, *_) in enumerate(steps))

    def teacher_forced(self, sources, targets):
        """Run the decoder step along given targets (EOS appended).

        Parameters
        ----------
        sources, targets : list of list of int

        Returns
        -------
        expected : int32 ``(n, width)``
            Each target then EOS, EOS-padded to the longest.
        mask : float ``(n, width)``
            1 up to and including each target's EOS.
        steps : list
            The step function's outputs at each of the ``width`` steps
            (``[log_probs, new_state, ...]``; attention networks add weights).
        """
        state, *extras = self.encode_fn(*self.source(sources))
        width = max(len(t) for t in targets) + 1
        expected = np.full((len(targets), width), self.vocab.eos_id, dtype=np.int32)
        mask = np.zeros((len(targets), width))
        for row, ids in enumerate(targets):
            expected[row, :len(ids)] = ids
            mask[row, :len(ids) + 1] = 1.0
        previous = np.full(len(targets), self.vocab.start_id, dtype=np.int32)
        steps = []
        for t in range(width):
            steps.append(self.step_fn(previous, state, *extras))
            state = steps[-1][1]
            previous = expected[:, t]
        return expected, mask, steps


def _repeated_ngram_tokens(ids, n):
    """Tokens that would repeat an ``n``-gram of ``ids`` if appended.

    Examples
    --------
    >>> _repeated_ngram_tokens([5, 6, 7, 5], 2)
    [6]
    >>> _repeated_ngram_tokens([5, 6], 1)
    [5, 6]
    """
    prefix = list(ids[len(ids) - n + 1:]) if n > 1 else []
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if list(ids[i:i + n - 1]) == prefix]


class _Hypotheses(object):
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
            the first ``antilm_gamma`` steps, with blocked tokens at -inf.
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
        if options.block_ngram:
            for row, ids in enumerate(self.history):
                scores[row, _repeated_ngram_tokens(list(ids), options.block_ngram)] = -np.inf
        return log_probs, scores


def _until_eos(ids, eos_id):
    """``ids`` up to (without) the first EOS."""
    ids = [int(i) for i in ids]
    return ids[:ids.index(eos_id)] if eos_id in ids else ids


def _normalised(score, length, alpha):
    return score / max(length, 1) ** alpha if alpha else score


def _sample_tokens(scores, options, rng):
    """One categorical draw per row from the filtered, tempered scores.

    Parameters
    ----------
    scores : float64 (rows, vocab)
        Log-domain scores (``-inf`` for forbidden tokens).
    options : DecodeOptions
        ``temperature``, ``top_k`` and ``top_p``.
    rng : numpy.random.RandomState

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
    draws = rng.random_sample((len(probs), 1))
    tokens = (np.cumsum(probs, axis=1) < draws).sum(axis=1)
    return np.minimum(tokens, probs.shape[1] - 1).astype(np.int32)


class Decoder(object):
    """Turns questions into replies with a trained network.

    Parameters
    ----------
    net : Seq2Seq
        A trained network.
    vocab : Vocabulary
        Its vocabulary.
    config : RunConfig
        Its configuration (tokenizer, source reversal, length caps).
    max_len : int, optional
        Longest reply in tokens; the training target cap when omitted.
    lm : tuple, optional
        ``(config, vocab, net)`` of a language model of replies (a run of
        ``bin/train.py --model lm``), for anti-LM decoding.
    backward : tuple, optional
        ``(config, vocab, net)`` of a backward model p(S|T) (a run of
        ``bin/train.py --reverse``), for MMI-bidi reranking.

    Examples
    --------
    >>> decoder = Decoder(net, vocab, config)          # doctest: +SKIP
    >>> decoder.reply(["how are you?"])[0].text        # doctest: +SKIP
    "i'm fine."
    >>> options = DecodeOptions(strategy="beam", beam=10, nbest=3)
    >>> [r.text for r in decoder.decode(["hi"], options)[0]]   # doctest: +SKIP
    ['hi.', 'hello.', 'hi, how are you?']
    """

    def __init__(self, net, vocab, config, max_len=None, lm=None, backward=None):
        self.net, self.vocab, self.config = net, vocab, config
        self.max_len = max_len or config.data.max_tgt_len
        self.main = _CompiledNet(net, vocab, config)
        self.encode_fn, self.step_fn = self.main.encode_fn, self.main.step_fn
        self.lm = self._helper(lm, "language model (--lm)")
        self.backward = self._helper(backward, "backward model (--backward)")
        self._memory_encode_fn = None

    def _helper(self, loaded, role):
        if loaded is None:
            return None
        config, vocab, net = loaded
        check_vocabulary(self.vocab, vocab, "the model", "the %s" % role)
        return _CompiledNet(net, vocab, config)

    # ------------------------------------------------------------ inputs
    def question_ids(self, questions):
        """Token ids of each question (capped) and its out-of-vocabulary words."""
        ids, unknown = [], []
        for question in questions:
            tokens = tokenize(question, self.config.data.tokenizer)[:self.config.data.max_src_len]
            unknown.append(self.vocab.unknown_tokens(tokens))
            ids.append(self.vocab.encode(tokens))
        return ids, unknown

    def encode_questions(self, questions):
        """Tokenize, map to ids and run the encoder.

        Returns
        -------
        encoded : list of numpy arrays
            ``[state, *extras]`` from the network's encoder, one row per question.
        unknown : list of list of str
            Each question's out-of-vocabulary words.
        """
        ids, unknown = self.question_ids(questions)
        return self.encode_fn(*self.main.source(ids)), unknown

    # ---------------------------------------------------------- decoding
    def decode(self, questions, options=None):
        """Decode a batch of questions with one strategy.

        Parameters
        ----------
        questions : list of str
        options : DecodeOptions, optional
            Greedy decoding when omitted.

        Returns
        -------
        list of list of Reply
            For each question its n-best replies, best first (``options.nbest``
            of them; fewer only when the search found fewer distinct replies).
        """
        questions = list(questions)
        if not questions:
            return []
        ids, unknown = self.question_ids(questions)
        return self.decode_encoded(ids, self.encode_fn(*self.main.source(ids)), unknown, options)

    def decode_encoded(self, ids, encoded, unknown, options=None):
        """:meth:`decode` from question ids already encoded (``[state, *extras]``)."""
        options = (options or DecodeOptions()).validate(self.lm is not None,
                                                        self.backward is not None)
        lm_encoded = None
        if options.antilm_lambda:
            lm_encoded = self.lm.encode_fn(*self.lm.source(ids))
        search = {"greedy": self._sequential, "beam": self._beam_search,
                  "sample": self._sequential}[options.strategy]
        candidates = search(encoded, lm_encoded, options)
        if options.mmi_bidi_lambda:
            candidates = self._rerank_bidi(ids, candidates, options.mmi_bidi_lambda)
        return [[self._reply(c, oov) for c in found[:options.nbest]]
                for found, oov in zip(candidates, unknown)]

    def _hypotheses(self, encoded, lm_encoded, copies, options):
        return _Hypotheses(self.main, encoded, copies, options,
                           self.lm if lm_encoded is not None else None, lm_encoded)

    def _sequential(self, encoded, lm_encoded, options):
        """Greedy decoding or sampling: one token per row and step, no pruning.

        Sampling draws ``nbest`` replies per question (``max(nbest, beam)``
        with MMI-bidi, which reranks them); duplicates are dropped.
        """
        count = len(encoded[0])
        copies = 1
        if options.strategy == "sample":
            copies = max(options.nbest, options.beam) if options.mmi_bidi_lambda else options.nbest
        rng = np.random.RandomState(options.seed)
        hyps = self._hypotheses(encoded, lm_encoded, copies, options)
        n = count * copies
        previous = np.full(n, self.vocab.start_id, dtype=np.int32)
        finished = np.zeros(n, dtype=bool)
        log_prob, score, length = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
        for _ in range(options.max_len or self.max_len):
            log_probs, scores = hyps.step(previous)
            if options.strategy == "greedy":
                chosen = scores.argmax(axis=1).astype(np.int32)
            else:
                chosen = _sample_tokens(scores, options, rng)
            live = ~finished
            log_prob[live] += log_probs[np.arange(n), chosen][live]
            score[live] += scores[np.arange(n), chosen][live]
            length[live] += 1
            chosen[finished] = self.vocab.eos_id
            hyps.append(chosen)
            previous = chosen
            finished |= chosen == self.vocab.eos_id
            if finished.all():
                break
        results = []
        for question in range(count):
            found = {}
            for row in range(question * copies, (question + 1) * copies):
                ids = _until_eos(hyps.history[row], self.vocab.eos_id)
                found.setdefault(tuple(ids), _Candidate(
                    ids, log_prob[row], length[row],
                    _normalised(score[row], length[row], options.alpha)))
            results.append(sorted(found.values(), key=lambda c: -c.score))
        return results


    def _beam_search(self, encoded, lm_encoded, options):
        """Beam search over all questions at once.

        Question ``q`` keeps ``beam`` live hypotheses in rows ``q * beam`` to
        ``(q + 1) * beam - 1``. At every step its ``2 * beam`` best extensions
        are read best first: an EOS extension ranked within the first
        ``beam`` finishes a hypothesis, the others fill the next beam. A
        question is done when ``beam`` hypotheses have finished and no live
        one can still beat the worst of them; at ``max_len`` the live
        hypotheses finish without EOS.
        """
        count, width = len(encoded[0]), options.beam
        max_len, eos = options.max_len or self.max_len, self.vocab.eos_id
        hyps = self._hypotheses(encoded, lm_encoded, width, options)
        # Row block i (rows i * width ...) holds the beam of question active[i];
        # done questions leave the arrays, so later steps cost only live rows.
        active = np.arange(count)
        total = np.full((count, width), -np.inf)
        total[:, 0] = 0.0  # one starting hypothesis per question: no duplicate beams
        log_prob = np.zeros((count, width))
        finished = [[] for _ in range(count)]
        previous = np.full(count * width, self.vocab.start_id, dtype=np.int32)
        for t in range(max_len):
            log_probs, scores = hyps.step(previous)
            vocab_size = scores.shape[1]
            extended = (total.reshape(-1, 1) + scores).reshape(len(active), width * vocab_size)
            top = np.argpartition(-extended, 2 * width - 1, axis=1)[:, :2 * width]
            order = np.take_along_axis(
                top, np.argsort(-np.take_along_axis(extended, top, axis=1), axis=1, kind="stable"),
                axis=1)
            rows = np.zeros((len(active), width), dtype=int)
            tokens = np.full((len(active), width), eos, dtype=np.int32)
            new_total, new_log_prob = np.full_like(total, -np.inf), np.zeros_like(log_prob)
            done = np.zeros(len(active), dtype=bool)
            for i, q in enumerate(active):
                kept = 0
                for rank, flat in enumerate(order[i]):
                    value = extended[i, flat]
                    if value == -np.inf or kept == width:
                        break
                    beam_row, token = divmod(int(flat), vocab_size)
                    token_log_prob = log_prob[i, beam_row] + log_probs[i * width + beam_row, token]
                    if token == eos:
                        if rank < width:
                            finished[q].append(_Candidate(
                                [int(j) for j in hyps.history[i * width + beam_row]],
                                token_log_prob, t + 1, _normalised(value, t + 1, options.alpha)))
                        continue
                    rows[i, kept], tokens[i, kept] = i * width + beam_row, token
                    new_total[i, kept], new_log_prob[i, kept] = value, token_log_prob
                    kept += 1
                done[i] = self._beam_done(finished[q], new_total[i], t, max_len, options)
            live = ~done
            hyps.take(rows[live].ravel())
            hyps.append(tokens[live].ravel())
            active, total, log_prob = active[live], new_total[live], new_log_prob[live]
            previous = tokens[live].ravel()
            if not len(active):
                break
        for i, q in enumerate(active):  # cut off at max_len
            for beam_row in np.flatnonzero(np.isfinite(total[i])):
                finished[q].append(_Candidate(
                    [int(j) for j in hyps.history[i * width + beam_row]], log_prob[i, beam_row],
                    max_len, _normalised(total[i, beam_row], max_len, options.alpha)))
        return [sorted(found, key=lambda c: -c.score)[:width] for found in finished]

    @staticmethod
    def _beam_done(finished, live_totals, t, max_len, options):
        """Whether no live hypothesis can enter a question's ``beam`` best finished ones."""
        if not np.isfinite(live_totals).any():
            return True
        if len(finished) < options.beam:
            return False
        if options.antilm_lambda and t + 1 < options.antilm_gamma:
            return False  # an anti-LM step can still raise a score
        kth_best = sorted((c.score for c in finished), reverse=True)[options.beam - 1]
        best = live_totals.max()
        # Raw scores only fall from here; normalised ones peak at the shortest
        # or the longest possible length.
        bound = max(_normalised(best, t + 2, options.alpha),
                    _normalised(best, max_len, options.alpha))
        return bound <= kth_best

    def _rerank_bidi(self, ids, candidates, weight):
        """Add ``weight * log p(S|T)`` from the backward model and re-sort."""
        pairs = [(q, c) for q, found in enumerate(candidates) for c in found]
        backward = self.backward.sequence_log_probs([c.ids for _, c in pairs],
                                                    [ids[q] for q, _ in pairs])
        for (_, candidate), value in zip(pairs, backward):
            candidate.score += weight * value
        return [sorted(found, key=lambda c: -c.score) for found in candidates]

    def _reply(self, candidate, unknown):
        words = self.vocab.decode(candidate.ids)
        return Reply(words, detokenize(words), float(candidate.log_prob),
                     float(candidate.log_prob) / max(candidate.length, 1), unknown,
                     float(candidate.score))

    def greedy(self, questions):
        """Replies by greedy decoding (the most likely token at every step).

        Parameters
        ----------
        questions : list of str

        Returns
        -------
        list of Reply
        """
        return self.reply(questions, DecodeOptions(strategy="greedy"))

    def reply(self, questions, options=None):
        """The best reply to each question (greedy decoding when ``options`` is None)."""
        return [found[0] for found in self.decode(list(questions), options)]

    def attention_map(self, question, options=None):
        """Where an attention network looks while it replies to ``question``.

        The reply is decoded with ``options`` (greedy when omitted); it is
        then fed back through the decoder step to read the attention weights
        of every step over the source tokens.

        Parameters
        ----------
        question : str
        options : DecodeOptions, optional

        Returns
        -------
        AttentionMap

        Raises
        ------
        Seq2SeqError
            If the network has no attention (not ``--model attention``).
        """
        if self.config.model.model != "attention":
            raise Seq2SeqError("a %s model has no attention weights to plot: train one with "
                               "bin/train.py --model attention" % self.config.model.model)
        reply = self.decode([question], options)[0][0]
        ids = self.question_ids([question])[0][0] or [self.vocab.unk_id]
        steps = self.main.teacher_forced([ids], [self.vocab.encode(reply.tokens)])[2]
        weights = np.concatenate([outputs[2] for outputs in steps])
        if self.config.model.reverse_source:  # columns back to reading order
            weights = weights[:, ::-1]
        return AttentionMap(self.vocab.decode(ids, strip_special=False),
                            list(reply.tokens) + [self.vocab.tokens[self.vocab.eos_id]],
                            weights, reply)

    # -------------------------------------------------------- multi-turn
    def start_conversation(self, remember=False):
        """A :class:`Conversation` on this decoder (memory off by default)."""
        return Conversation(self, remember)

    def memory_encoder(self):
        """The network's memory encoder, compiled on first use."""
        if self._memory_encode_fn is None:
            self._memory_encode_fn = self.net.compile_memory_encoder()
        return self._memory_encode_fn


class Conversation(object):
    """A dialogue with one decoder, optionally remembering earlier exchanges.

    With ``remember`` (seed 001's ``remember_state``) the encoder's final
    state after one question becomes its initial state for the next, so
    earlier questions colour later replies; :meth:`reset` forgets them.

    Parameters
    ----------
    decoder : Decoder
    remember : bool
        Carry the encoder state across exchanges; needs a network with
        ``compile_memory_encoder``.

    Examples
    --------
    >>> chat = decoder.start_conversation(remember=True)   # doctest: +SKIP
    >>> chat.reply("my name is david.").text               # doctest: +SKIP
    """

    def __init__(self, decoder, remember=False):
        if remember and not hasattr(decoder.net, "compile_memory_encoder"):
            raise Seq2SeqError("--remember needs a network with a memory encoder "
                               "(Seq2Seq.compile_memory_encoder): update lasagne_seq2seq")
        self.decoder, self.remember = decoder, remember
        self.memory = None
        self.reset()

    def reset(self):
        """Forget the earlier exchanges."""
        if self.remember:
            self.memory = np.zeros((1, self.decoder.net.memory_size), dtype=np.float32)

    def reply(self, text, options=None):
        """The best reply to ``text``; with memory on, also updates the memory.

        Returns
        -------
        Reply
        """
        decoder = self.decoder
        options = (options or DecodeOptions()).validate(decoder.lm is not None,
                                                        decoder.backward is not None)
        ids, unknown = decoder.question_ids([text])
        src, src_mask = decoder.main.source(ids)
        if self.remember:
            *encoded, self.memory = decoder.memory_encoder()(src, src_mask, self.memory)
        else:
            encoded = decoder.encode_fn(src, src_mask)
        return decoder.decode_encoded(ids, encoded, unknown, options)[0][0]


def check_vocabulary(vocab, other, name, other_name):
    """Raise :class:`Seq2SeqError` unless two models share one vocabulary."""
    if vocab != other:
        raise Seq2SeqError("%s's vocabulary (%d words) differs from %s's (%d words): train "
                           "both with the same --corpus, --vocab-size and --min-count"
                           % (other_name, len(other), name, len(vocab)))


def load_decoder(run_dir, which="best", max_len=None, lm_dir=None, backward_dir=None):
    """A :class:`Decoder` for a run directory, with optional helper models.

    Parameters
    ----------
    run_dir : str
        The model (written by ``bin/train.py``).
    which : {"best", "last"}
        Its checkpoint.
    max_len : int, optional
    lm_dir : str, optional
        A language model run (``bin/train.py --model lm``) for anti-LM.
    backward_dir : str, optional
        A backward run (``bin/train.py --reverse``) for MMI-bidi.

    Returns
    -------
    Decoder
    """
    from .checkpoint import load_model
    config, vocab, net = load_model(run_dir, which)
    helpers = {}
    for key, path in (("lm", lm_dir), ("backward", backward_dir)):
        if path:
            helpers[key] = load_model(path)
            check_vocabulary(vocab, helpers[key][1], run_dir, path)
    if lm_dir and helpers["lm"][0].model.model != "lm":
        raise Seq2SeqError("--lm %s holds a %s model, not a language model: train one with "
                           "bin/train.py --model lm" % (lm_dir, helpers["lm"][0].model.model))
    if backward_dir and not helpers["backward"][0].data.reverse_pairs:
        raise Seq2SeqError("--backward %s was not trained on reversed pairs: train it with "
                           "bin/train.py --reverse" % backward_dir)
    return Decoder(net, vocab, config, max_len=max_len, **helpers)
