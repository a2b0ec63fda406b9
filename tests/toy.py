"""The toy tasks (repeat and reverse three-word phrases) as
:mod:`lasagne_seq2seq.data.toy` generates them, and the helpers of the test
files that train on them.

conftest.py writes the tasks once per session (:func:`write_session_tasks`);
every path here is of that session's folder.
"""
from pathlib import Path

import numpy as np

from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.data.toy import write_toy_tasks

#: The session's tasks: 300 words (the original's had 5,500), so that each
#: word is in about 50 of the 5,000 training phrases (of 27 million
#: possible), and the original's 50 held-out pairs per task.
SIZES = dict(train_pairs=5000, test_pairs=50, vocab_size=300, seed=0)
_session = {}


def write_session_tasks(folder):
    """Write every toy task under ``folder`` and make it the session's."""
    write_toy_tasks(folder, **SIZES)
    _session["folder"] = Path(folder)


def toy_path(split, task):
    """The session's ``split`` ("train" or "test") file of a toy task."""
    return _session["folder"] / split / ("%s.txt" % task)


def toy_config(task, model="v1", **train):
    """A small config for a toy task (3-word phrases).

    2% of the training pairs are held out for validation and 2% as a test
    split (bin/evaluate.py's default); the task's own test files are
    unseen phrases as well.
    """
    config = RunConfig()
    config.data.corpus = str(toy_path("train", task))
    config.data.format, config.data.pairing, config.data.tokenizer = "plain", "alternate", "classic"
    config.data.vocab_size, config.data.max_src_len, config.data.max_tgt_len = 400, 4, 4
    config.data.valid_fraction, config.data.test_fraction = 0.02, 0.02
    config.model.model, config.model.embedding_size, config.model.hidden_size = model, 64, 128
    # Reading order puts the reversed reply's first word last, next to the
    # decoder (on the original's data: 94% held-out exact match vs 84% with
    # the original's reversal).
    config.model.reverse_source = task != "reversed_phrases"
    config.train.batch_size, config.train.buckets, config.train.validate_every = 32, 1, 150
    config.train.sample_every, config.train.epochs = 0, 2
    config.train.learning_rate = 0.005
    for name, value in train.items():
        setattr(config.train, name, value)
    return config


def toy_test_pairs(task):
    """The held-out (question, answer) pairs of a toy task."""
    from lasagne_seq2seq.data.corpora import load_conversations, make_pairs
    return make_pairs(load_conversations(str(toy_path("test", task)), fmt="plain"),
                      mode="alternate")


def held_out_exact_match(run_dir, task):
    """Share of the task's held-out test pairs answered exactly (greedy),
    among those the model can answer.

    A reply that repeats or reverses the question must contain the question's
    words, so a question with a word the training pairs never had is
    impossible for any model without a copy mechanism: it is left out, and
    at most 10% of the pairs may be.
    """
    from lasagne_seq2seq.models.registry import load_model
    from lasagne_seq2seq.decode.decoder import Decoder
    config, vocab, net = load_model(run_dir)
    pairs = toy_test_pairs(task)
    replies = Decoder(net, vocab, config).reply([q for q, _ in pairs])
    answerable = [(reply, answer) for reply, (_, answer) in zip(replies, pairs)
                  if not reply.unknown]
    assert len(answerable) >= 0.9 * len(pairs), "the toy task's vocabulary is not covered"
    return np.mean([reply.text == answer.lower() for reply, answer in answerable])


def quiet(line):
    """A log function that prints nothing."""


def tiny_batch(vocab_size):
    """The arrays of one padded batch of three pairs of random ids below
    ``vocab_size`` (source and target lengths 3/5/2 and 4/1/3), the same on
    every call: ``[src, src_mask, tgt_in, tgt_out, tgt_mask]``."""
    from lasagne_seq2seq.data.batches import EncodedPairs, iterate_batches
    rng = np.random.RandomState(1)
    pairs = EncodedPairs([rng.randint(4, vocab_size, n).astype("int32") for n in (3, 5, 2)],
                         [rng.randint(4, vocab_size, n).astype("int32") for n in (4, 1, 3)])
    batch = next(iterate_batches(pairs, 3))
    return [batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask]

