"""Multi-turn training: the encoder's state carried through a conversation.

Seed 001's ``remember_state`` (``bin/train.py --remember-state``): a
conversation is a chain of exchanges (question, reply), and the encoder of
exchange *k* starts from its own final states of exchange *k - 1* of the
same conversation instead of zeros, so what was said earlier can shape the
reply. The decoder reads the encoder as usual; decoding with
``bin/test.py --interactive --remember``
(:class:`~lasagne_seq2seq.decode.decoder.Conversation`) carries the state in
exactly the same way, so a model is used as it was trained.

* :func:`conversation_batches` makes conversation-ordered batches: each row
  of the batch follows conversations exchange by exchange (a row that
  finishes one goes on with the next), and ``starts`` marks the rows whose
  exchange opens a conversation;
* :func:`carry` turns the previous batch's final states into this batch's
  initial states, zeros where a conversation starts;
* :class:`MultiTurnTrainer` is the :class:`~lasagne_seq2seq.train.trainer.Trainer`
  that trains and validates on such batches.

Gradients stop at the exchange boundary (truncated back-propagation through
the conversation): the carried state is an input of the training step, not a
path the loss differentiates through, so each step costs what a single
exchange costs. Checkpoints keep the carried states, so a resumed run
continues exactly as an uninterrupted one.
"""
from dataclasses import dataclass

import numpy as np

import theano
import theano.tensor as T

from lasagne_seq2seq.backend.modes import compile_mode
from lasagne_seq2seq.data.batches import Batch, make_batch
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.train.trainer import Trainer, perplexity
from lasagne_seq2seq.data.vocab import PAD_ID

__all__ = ["ExchangeBatch", "conversations_of", "conversation_batches", "carry",
           "MultiTurnTrainer"]


@dataclass
class ExchangeBatch(Batch):
    """A :class:`~lasagne_seq2seq.data.batches.Batch` of one exchange per row.

    Attributes
    ----------
    starts : float32 ``(rows,)``
        1 where the row's exchange is the first of its conversation (the
        encoder starts from zeros), 0 where it continues the exchange the
        row held in the previous batch. Rows with nothing left hold padding
        only (zero masks).
    """
    starts: np.ndarray = None


def conversations_of(pairs):
    """Indices of ``pairs`` grouped by conversation, in conversation order.

    Parameters
    ----------
    pairs : EncodedPairs
        With ``conversation`` filled (as :func:`~lasagne_seq2seq.data.batches.build_dataset` does).

    Returns
    -------
    list of list of int

    Examples
    --------
    >>> from lasagne_seq2seq.data import EncodedPairs
    >>> conversations_of(EncodedPairs([[4]] * 4, [[5]] * 4, [0, 0, 3, 3]))
    [[0, 1], [2, 3]]
    """
    if len(pairs.conversation) != len(pairs):
        raise Seq2SeqError("multi-turn training (--remember-state) needs each pair's "
                           "conversation: build the pairs with data.build_dataset")
    groups = []
    for index, conversation in enumerate(pairs.conversation):
        if index and pairs.conversation[index - 1] == conversation:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def _rows(conversations, batch_size):
    """Deal conversations to ``batch_size`` rows, each to the row with the
    fewest exchanges so far; per row, ``(pair index, starts)`` in order."""
    rows = [[] for _ in range(min(batch_size, len(conversations)))]
    for conversation in conversations:
        row = min(rows, key=len)
        row.extend((index, k == 0) for k, index in enumerate(conversation))
    return rows


def conversation_batches(pairs, batch_size, rng=None, buckets=None, reverse_source=False):
    """Yield conversation-ordered :class:`ExchangeBatch` es covering every pair once.

    Row ``r`` of batch ``j + 1`` holds the exchange that follows row ``r``'s
    exchange of batch ``j`` in its conversation, or the first exchange of the
    row's next conversation (``starts`` 1).

    Parameters
    ----------
    pairs : EncodedPairs
        With conversations (see :func:`conversations_of`).
    batch_size : int
        Rows: conversations followed side by side.
    rng : numpy.random.RandomState, optional
        Shuffle the order of the conversations (never of their exchanges).
    buckets : list of (int, int), optional
        Length caps, ascending: each batch is padded to the smallest bucket
        that holds all its rows (one compiled step per bucket). Without
        buckets, a batch is as wide as its longest row.
    reverse_source : bool
        Reverse the questions.

    Yields
    ------
    ExchangeBatch
    """
    conversations = conversations_of(pairs)
    if rng is not None:
        conversations = [conversations[k] for k in rng.permutation(len(conversations))]
    rows = _rows(conversations, batch_size)
    for step in range(max((len(row) for row in rows), default=0)):
        held = [row[step] if step < len(row) else None for row in rows]
        real = [h[0] for h in held if h is not None]
        filler = [h[0] if h is not None else real[0] for h in held]
        src_len = tgt_len = None
        if buckets:
            src_len, tgt_len = next(
                (s, t) for s, t in buckets
                if max(len(pairs.src[i]) for i in real) <= s
                and max(len(pairs.tgt[i]) for i in real) <= t)
        batch = make_batch(pairs, filler, reverse_source, src_len, tgt_len)
        empty = np.array([h is None for h in held])
        for array in (batch.src, batch.tgt_in, batch.tgt_out):
            array[empty] = PAD_ID
        for array in (batch.src_mask, batch.tgt_mask):
            array[empty] = 0.0
        starts = np.array([h is not None and h[1] for h in held], dtype=np.float32)
        yield ExchangeBatch(batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out,
                            batch.tgt_mask, starts)


def carry(memory, starts, memory_size):
    """The encoder's initial states for a batch.

    Parameters
    ----------
    memory : float32 ``(rows, memory_size)`` or None
        The previous batch's final encoder states (None: the first batch).
    starts : float32 ``(rows,)``
        1 where a conversation starts.
    memory_size : int

    Returns
    -------
    float32 ``(rows, memory_size)``
        ``memory`` with the rows that start a conversation set to zeros.

    Examples
    --------
    >>> carry(np.ones((2, 3), "float32"), np.array([1, 0], "float32"), 3).tolist()
    [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    if memory is None:
        return np.zeros((len(starts), memory_size), dtype=np.float32)
    return (memory * (1.0 - starts)[:, None]).astype(np.float32)


class MultiTurnTrainer(Trainer):
    """A :class:`~lasagne_seq2seq.train.trainer.Trainer` on conversation-ordered
    batches, carrying the encoder state from exchange to exchange.

    Training and validation both carry the state; validation perplexity is
    therefore that of the model used in a conversation. Parameters as for
    :class:`~lasagne_seq2seq.train.trainer.Trainer`.
    """

    def __init__(self, *args, **kwargs):
        super(MultiTurnTrainer, self).__init__(*args, **kwargs)
        self.memory = None  # the last training batch's final encoder states
        self._carrying_validation = None

    def _memory_input(self):
        return T.matrix("memory")

    def _shuffled_batches(self):
        if self.progress["batch"] == 0:  # a new epoch starts every row afresh
            self.memory = None
        return list(conversation_batches(self.dataset.train, self.train_config.batch_size,
                                         rng=self.rng, buckets=self.buckets,
                                         reverse_source=self.config.model.reverse_source))

    def save(self, which="last"):
        """Write a checkpoint; its progress record holds the carried states."""
        self.progress["carried_memory"] = None if self.memory is None else self.memory.tolist()
        super(MultiTurnTrainer, self).save(which)

    def resume(self, path):
        """Restore a checkpoint, the carried states included."""
        super(MultiTurnTrainer, self).resume(path)
        memory = self.progress.pop("carried_memory", None)
        self.memory = None if memory is None else np.asarray(memory, dtype=np.float32)

    def _run_step(self, function, batch):
        memory = carry(self.memory, batch.starts, self.net.memory_size)
        loss, tokens, _, self.memory = function(batch.src, batch.src_mask, batch.tgt_in,
                                                batch.tgt_out, batch.tgt_mask, memory)
        return float(loss), float(tokens)

    def validate(self):
        """Per-token perplexity of the validation split, the state carried
        through each conversation (dropout off)."""
        if self._carrying_validation is None:
            batch, memory = self._symbolic_batch(), T.matrix("memory")
            terms = self.net.loss_terms(*batch, deterministic=True, memory=memory)
            self._carrying_validation = theano.function(
                list(batch) + [memory], [terms.loss, batch[4].sum(), terms.new_memory],
                name="validate_carrying", on_unused_input="ignore",
                mode=compile_mode())
        loss = tokens = 0.0
        memory = None
        for batch in conversation_batches(self.dataset.valid, self.train_config.batch_size,
                                          reverse_source=self.config.model.reverse_source):
            batch_loss, batch_tokens, memory = self._carrying_validation(
                batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask,
                carry(memory, batch.starts, self.net.memory_size))
            loss += float(batch_loss)
            tokens += float(batch_tokens)
        return perplexity(loss, tokens)
