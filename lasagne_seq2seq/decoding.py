"""Decoding replies from a trained network.

:class:`Decoder` compiles the network's encoder and single decoder step once
(:meth:`~lasagne_seq2seq.models.Seq2Seq.compile_decoder`) and runs every
strategy on them in NumPy, a batch of questions at a time: each step costs one
call for all live hypotheses, and no prefix is ever re-run.
"""
from dataclasses import dataclass, field
from typing import List

import numpy as np

from .data import source_batch
from .text import detokenize, tokenize

__all__ = ["Decoder", "Reply", "SAMPLE_QUESTIONS"]

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
    """
    tokens: List[str]
    text: str
    log_prob: float
    mean_log_prob: float
    unknown: List[str] = field(default_factory=list)


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

    Examples
    --------
    >>> decoder = Decoder(net, vocab, config)          # doctest: +SKIP
    >>> decoder.reply(["how are you?"])[0].text        # doctest: +SKIP
    "i'm fine."
    """

    def __init__(self, net, vocab, config, max_len=None):
        self.net, self.vocab, self.config = net, vocab, config
        self.max_len = max_len or config.data.max_tgt_len
        self.encode_fn, self.step_fn = net.compile_decoder()

    def encode_questions(self, questions):
        """Tokenize, map to ids and run the encoder.

        Returns
        -------
        encoded : list of numpy arrays
            ``[state, *extras]`` from the network's encoder, one row per question.
        unknown : list of list of str
            Each question's out-of-vocabulary words.
        """
        ids, unknown = [], []
        for question in questions:
            tokens = tokenize(question, self.config.data.tokenizer)[:self.config.data.max_src_len]
            unknown.append(self.vocab.unknown_tokens(tokens))
            ids.append(self.vocab.encode(tokens) or [self.vocab.unk_id])
        src, src_mask = source_batch(ids, reverse=self.config.model.reverse_source)
        return self.encode_fn(src, src_mask), unknown

    def greedy(self, questions):
        """The most likely token at every step.

        Parameters
        ----------
        questions : list of str

        Returns
        -------
        list of Reply
        """
        (state, *extras), unknown = self.encode_questions(questions)
        count = len(questions)
        previous = np.full(count, self.vocab.start_id, dtype=np.int32)
        finished = np.zeros(count, dtype=bool)
        scores, lengths = np.zeros(count), np.zeros(count)
        tokens = [[] for _ in range(count)]
        for _ in range(self.max_len):
            log_probs, state = self.step_fn(previous, state, *extras)[:2]
            previous = log_probs.argmax(axis=1).astype(np.int32)
            live = ~finished
            scores[live] += log_probs[np.arange(count), previous][live]
            lengths[live] += 1
            for row in np.flatnonzero(live & (previous != self.vocab.eos_id)):
                tokens[row].append(int(previous[row]))
            finished |= previous == self.vocab.eos_id
            if finished.all():
                break
        return [self._reply(ids, score, length, oov)
                for ids, score, length, oov in zip(tokens, scores, lengths, unknown)]

    def _reply(self, ids, log_prob, scored, unknown):
        words = self.vocab.decode(ids)
        return Reply(words, detokenize(words), float(log_prob),
                     float(log_prob) / max(scored, 1), unknown)

    def reply(self, questions):
        """Replies to ``questions`` (greedy decoding)."""
        return self.greedy(list(questions))
