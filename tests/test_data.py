"""From a corpus to batches: splits, vocabulary, caps, buckets, shapes."""

import numpy as np
import pytest

from lasagne_seq2seq.data import batches as data_module
from lasagne_seq2seq.data.batches import (EncodedPairs,
    build_dataset,
    default_buckets,
    iterate_batches,
    source_batch,
    tokenized_conversations)
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.data.text import tokenize
from lasagne_seq2seq.data.vocab import EOS_ID, PAD_ID, START_ID
from toy import SIZES, toy_path



@pytest.fixture
def script(tmp_path):
    lines = []
    for c in range(40):
        lines += ["question %d number %s" % (c, " x" * (c % 7)), "reply %d" % c,
                  "and again %d" % c, ""]
    path = tmp_path / "dialogues.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return str(path)


def test_dataset_splits_build_vocabulary_on_train_and_caps_lengths(script):
    data = build_dataset(script, vocab_size=30, max_src_len=4, max_tgt_len=3,
                         valid_fraction=0.1, test_fraction=0.1)
    assert (len(data.train), len(data.valid), len(data.test)) == (64, 8, 8)
    assert len(data.vocab) == 30
    assert max(len(s) for s in data.train.src) == 4 and max(len(t) for t in data.train.tgt) == 3
    assert data.stats["truncated_src"] > 0
    summary = data.summary()
    assert "80 pairs" in summary and "\n" not in summary


def test_a_given_vocabulary_is_used_as_is(script):
    data = build_dataset(script, vocab_size=30)
    again = build_dataset(script, vocab=data.vocab, seed=1)
    assert again.vocab is data.vocab


def test_a_plain_file_is_split_by_pair():
    data = build_dataset(str(toy_path("train", "reversed_phrases")), fmt="plain",
                         pairing="alternate", tokenizer="classic", valid_fraction=0.1,
                         test_fraction=0.0)
    pairs = SIZES["train_pairs"]
    assert (len(data.train), len(data.valid)) == (pairs - pairs // 10, pairs // 10)
    valid_pairs = {(tuple(s), tuple(t)) for s, t in zip(data.valid.src, data.valid.tgt)}
    train_pairs = {(tuple(s), tuple(t)) for s, t in zip(data.train.src, data.train.tgt)}
    assert not valid_pairs & train_pairs
    assert all(list(t) == list(s)[::-1] for s, t in zip(data.train.src, data.train.tgt))


def test_source_batch_pads_and_reverses():
    src, mask = source_batch([[5, 6, 7], [8]], reverse=True, length=4)
    assert src.tolist() == [[7, 6, 5, PAD_ID], [8, PAD_ID, PAD_ID, PAD_ID]]
    assert mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    with pytest.raises(ValueError):
        source_batch([[1, 2, 3]], length=2)


def pairs(n=50, seed=0):
    rng = np.random.RandomState(seed)
    return EncodedPairs([rng.randint(4, 20, rng.randint(1, 9)).astype(np.int32) for _ in range(n)],
                        [rng.randint(4, 20, rng.randint(1, 7)).astype(np.int32) for _ in range(n)])


def test_batches_have_start_eos_and_masks_in_place():
    data = pairs()
    for batch in iterate_batches(data, 8):
        for row in range(len(batch.src)):
            n = int(batch.tgt_mask[row].sum())
            assert batch.tgt_in[row, 0] == START_ID and batch.tgt_out[row, n - 1] == EOS_ID
            np.testing.assert_array_equal(batch.tgt_in[row, 1:n], batch.tgt_out[row, :n - 1])
            assert (batch.tgt_out[row, n:] == PAD_ID).all()
        assert batch.src.dtype == np.int32 and batch.src_mask.dtype == np.float32


def test_buckets_give_fixed_shapes_and_cover_every_pair_once():
    data = pairs()
    buckets = default_buckets(8, 6, 2)
    assert buckets == [(4, 3), (8, 6)]
    seen = []
    for batch in iterate_batches(data, 8, rng=np.random.RandomState(0), buckets=buckets):
        assert (batch.src.shape[1], batch.tgt_in.shape[1] - 1) in buckets
        seen += [tuple(row[row > 0]) for row in batch.src]
    assert sorted(seen) == sorted(tuple(s) for s in data.src)


def test_shuffling_is_seeded_and_no_shuffle_is_fixed():
    data = pairs()
    first = lambda seed: next(iterate_batches(data, 8, rng=np.random.RandomState(seed))).src
    np.testing.assert_array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))
    fixed = [b.src.tolist() for b in iterate_batches(data, 8)]
    assert fixed == [b.src.tolist() for b in iterate_batches(data, 8)]


def test_a_pair_longer_than_every_bucket_is_an_error():
    with pytest.raises(Seq2SeqError, match="fits no bucket"):
        list(iterate_batches(pairs(), 8, buckets=[(2, 2)]))


@pytest.fixture(autouse=True)
def cache_in(tmp_path, monkeypatch):
    """Cache every corpus, in a folder of the test's own."""
    monkeypatch.setattr(data_module, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(data_module, "CACHE_MIN_BYTES", 0)
    return tmp_path / "cache"


def count_tokenize_calls(monkeypatch):
    calls = []

    def counting(text, mode="default"):
        calls.append(text)
        return tokenize(text, mode)
    monkeypatch.setattr(data_module, "tokenize", counting)
    return calls


def test_each_utterance_is_tokenized_once_and_then_read_from_the_cache(script, monkeypatch,
                                                                        cache_in):
    calls = count_tokenize_calls(monkeypatch)
    first = build_dataset(script)
    utterances = first.stats["utterances"]
    assert len(calls) == utterances + 1  # +1: the up-front check of the tokenizer's name
    again = build_dataset(script)
    assert len(calls) == utterances + 2 and len(list(cache_in.iterdir())) == 1
    assert again.train.src[0].tolist() == first.train.src[0].tolist()
    with open(script, "a", encoding="utf-8") as handle:  # an edited corpus is tokenized again
        handle.write("\n\nnew question\nnew reply\n")
    build_dataset(script)
    assert len(calls) > utterances * 2


def test_a_corrupt_cache_is_ignored_and_rewritten(script, monkeypatch, cache_in):
    expected = tokenized_conversations(script)
    [cache_file] = cache_in.iterdir()
    cache_file.write_bytes(cache_file.read_bytes()[:-100])  # truncated
    calls = count_tokenize_calls(monkeypatch)
    assert tokenized_conversations(script) == expected and calls
    assert tokenized_conversations(script) == expected
    assert len(calls) == len(expected) * 3 + 2  # the second call read the rewritten cache


def test_small_corpora_are_not_cached(script, monkeypatch, cache_in):
    monkeypatch.setattr(data_module, "CACHE_MIN_BYTES", 1 << 20)
    build_dataset(script)
    assert not cache_in.exists()


def test_a_corpus_of_few_conversations_is_split_by_pair(tmp_path):
    path = tmp_path / "three.txt"
    blocks = ["\n".join("line %d of %d" % (i, b) for i in range(30)) for b in range(3)]
    path.write_text("\n\n".join(blocks), encoding="utf-8")
    data = build_dataset(str(path), valid_fraction=0.1, test_fraction=0.1)
    assert (len(data.train), len(data.valid), len(data.test)) == (69, 9, 9)


def test_max_pairs_and_pairs_with_an_empty_side(script, monkeypatch):
    assert len(build_dataset(script, max_pairs=10).train) == 10
    monkeypatch.setattr(data_module, "CACHE_MIN_BYTES", 1 << 20)
    monkeypatch.setattr(data_module, "tokenize",
                        lambda text, mode="default": [] if "again" in text else text.split())
    data = build_dataset(script, valid_fraction=0.0, test_fraction=0.0)
    # Each conversation is question, reply, "and again": (reply, nothing) is dropped.
    assert len(data.train) == data.stats["pairs"] == 40
    assert all(len(t) == 2 for t in data.train.tgt)  # every kept reply is "reply N"


def test_an_unknown_tokenizer_fails_before_reading(script):
    with pytest.raises(Seq2SeqError, match="unknown tokenizer"):
        build_dataset(script, tokenizer="spacy")


def test_default_buckets_split_the_caps():
    assert default_buckets(15, 15, 2) == [(8, 8), (15, 15)]
    assert default_buckets(15, 10, 1) == [(15, 10)]
    assert default_buckets(20, 20, 4) == [(5, 5), (10, 10), (15, 15), (20, 20)]


@pytest.mark.parametrize("rng", [None, np.random.RandomState(5)])
def test_unbucketed_batches_cover_every_pair_once_padded_to_their_longest(rng):
    data = pairs(n=203)
    seen = []
    for batch in iterate_batches(data, 16, rng=rng):
        lengths = batch.src_mask.sum(axis=1)
        assert batch.src.shape[1] == lengths.max() and batch.tgt_in.shape[1] == \
            batch.tgt_mask.sum(axis=1).max()
        seen += [tuple(row[:int(n)]) for row, n in zip(batch.src, lengths)]
    assert sorted(seen) == sorted(tuple(s) for s in data.src)


def test_batches_reverse_the_source_when_asked():
    data = pairs(n=10)
    plain = next(iterate_batches(data, 10))
    reversed_ = next(iterate_batches(data, 10, reverse_source=True))
    for row in range(10):
        n = int(plain.src_mask[row].sum())
        assert reversed_.src[row, :n].tolist() == plain.src[row, :n][::-1].tolist()
    np.testing.assert_array_equal(plain.tgt_in, reversed_.tgt_in)
