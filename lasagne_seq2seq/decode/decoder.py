"""Decoding replies from a trained network.

:class:`Decoder` compiles the network's encoder and single decoder step once
(:meth:`~lasagne_seq2seq.models.base.EncoderDecoder.compile_decoder`) and runs
every strategy (:class:`~lasagne_seq2seq.decode.options.DecodeOptions`) on
them in NumPy, a batch of questions at a time: each step costs one call for
all live hypotheses of all questions, and no prefix is ever re-run.

On top of any strategy: **MMI-antiLM** (Li et al. 2016), which scores each of
the first ``antilm_gamma`` tokens by ``log p(t|S) - lambda log p(t)`` with a
language model of replies; **MMI-bidi**, which reranks the n-best list by
``score + mu log p(S|T)`` with a backward model; and **averaged states**
(seed 002), which feed the decoder ``(1 - a) * last + a * mean`` of its states.
:class:`Conversation` carries the encoder's state across exchanges (seed
001's ``remember_state``).
"""
from dataclasses import dataclass, field
from typing import List
import numpy as np
from lasagne_seq2seq.data.batches import source_batch
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.data.text import detokenize, tokenize
from lasagne_seq2seq.decode.options import DecodeOptions
from lasagne_seq2seq.decode.search import (Candidate, Hypotheses, normalised, question_streams,
                                           sample_tokens, until_eos)


@dataclass
class Reply:
    """One decoded reply.

    Attributes
    ----------
    tokens : list of str
        The reply's words, without EOS (its pieces joined, with a subword
        vocabulary).
    text : str
        The words detokenized for reading.
    log_prob : float
        Sum of the log-probabilities of the tokens and of EOS (if emitted).
    mean_log_prob : float
        ``log_prob`` per scored token.
    unknown : list of str
        Words of the question that the vocabulary does not know (read as UNK).
    score : float
        The strategy's ranking score (``log_prob`` for plain greedy decoding;
        with anti-LM, length normalisation or MMI-bidi, the adjusted score).
    pieces : list of str
        The vocabulary's tokens the decoder emitted, without EOS (``tokens``
        itself with a word vocabulary).
    """
    tokens: List[str]
    text: str
    log_prob: float
    mean_log_prob: float
    unknown: List[str] = field(default_factory=list)
    score: float = 0.0
    pieces: List[str] = field(default_factory=list)


@dataclass
class AttentionMap:
    """The attention weights behind one reply (:meth:`Decoder.attention_map`).

    Attributes
    ----------
    source : list of str
        The question's tokens as the encoder read them, in reading order.
    target : list of str
        The reply's tokens (pieces, with a subword vocabulary), then ``</s>``
        (the step that ended the reply).
    weights : float array ``(len(target), len(source))``
        Row ``t``: the attention over the source when ``target[t]`` was
        predicted; each row sums to 1.
    reply : Reply
    """
    source: List[str]
    target: List[str]
    weights: np.ndarray
    reply: Reply


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
        ``bin/train.py --reverse-pairs``), for MMI-bidi reranking.

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
        cap = self.config.data.max_src_len
        for question in questions:
            words = tokenize(question, self.config.data.tokenizer)
            unknown.append(self.vocab.unknown_tokens(words[:cap]))
            ids.append(self.vocab.encode(self.vocab.segment(words)[:cap]))
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
        candidates = STRATEGIES[options.strategy](self, ids, encoded, lm_encoded, options)
        if options.mmi_bidi_lambda:
            candidates = self._rerank_bidi(ids, candidates, options.mmi_bidi_lambda)
        return [[self._reply(c, oov) for c in found[:options.nbest]]
                for found, oov in zip(candidates, unknown)]

    def _hypotheses(self, encoded, lm_encoded, copies, options):
        return Hypotheses(self.main, encoded, copies, options,
                           self.lm if lm_encoded is not None else None, lm_encoded)

    def _sequential(self, ids, encoded, lm_encoded, options):
        """Greedy decoding or sampling: one token per row and step, no pruning.

        Sampling draws ``nbest`` replies per question (``max(nbest, beam)``
        with MMI-bidi, which reranks them) from the question's own random
        stream (:func:`question_streams`); duplicates are dropped.
        """
        count = len(encoded[0])
        copies = 1
        if options.strategy == "sample":
            copies = max(options.nbest, options.beam) if options.mmi_bidi_lambda else options.nbest
        streams = question_streams(ids, options.seed) if options.strategy == "sample" else ()
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
                chosen = sample_tokens(scores, options, np.concatenate(
                    [stream.random_sample(copies) for stream in streams]))
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
                ids = until_eos(hyps.history[row], self.vocab.eos_id)
                found.setdefault(tuple(ids), Candidate(
                    ids, log_prob[row], length[row],
                    normalised(score[row], length[row], options.alpha)))
            results.append(sorted(found.values(), key=lambda c: -c.score))
        return results


    def _beam_search(self, ids, encoded, lm_encoded, options):
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
                            finished[q].append(Candidate(
                                [int(j) for j in hyps.history[i * width + beam_row]],
                                token_log_prob, t + 1, normalised(value, t + 1, options.alpha)))
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
                finished[q].append(Candidate(
                    [int(j) for j in hyps.history[i * width + beam_row]], log_prob[i, beam_row],
                    max_len, normalised(total[i, beam_row], max_len, options.alpha)))
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
        bound = max(normalised(best, t + 2, options.alpha),
                    normalised(best, max_len, options.alpha))
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
        words = self.vocab.words(candidate.ids)
        return Reply(words, detokenize(words), float(candidate.log_prob),
                     float(candidate.log_prob) / max(candidate.length, 1), unknown,
                     float(candidate.score), self.vocab.decode(candidate.ids))

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
        steps = self.main.teacher_forced([ids], [self.vocab.encode(reply.pieces)])[2]
        weights = np.concatenate([outputs[2] for outputs in steps])
        if self.config.model.reverse_source:  # columns back to reading order
            weights = weights[:, ::-1]
        return AttentionMap(self.vocab.decode(ids, strip_special=False),
                            list(reply.pieces) + [self.vocab.tokens[self.vocab.eos_id]],
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


#: Every ``--strategy`` and the search that runs it
#: (:data:`lasagne_seq2seq.decode.options.STRATEGY_NAMES` lists the same names).
STRATEGIES = {"greedy": Decoder._sequential, "beam": Decoder._beam_search,
              "sample": Decoder._sequential}


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
                           "both with the same --corpus, --vocab, --vocab-size and --min-count"
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
        A backward run (``bin/train.py --reverse-pairs``) for MMI-bidi.

    Returns
    -------
    Decoder
    """
    from lasagne_seq2seq.models.registry import load_model
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
                           "bin/train.py --reverse-pairs" % backward_dir)
    return Decoder(net, vocab, config, max_len=max_len, **helpers)
