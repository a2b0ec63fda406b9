"""From a corpus to padded, bucketed batches of token ids (NumPy only).

:func:`build_dataset` reads a corpus, splits it by conversation, tokenizes
each utterance once, builds the vocabulary on the training split, and
encodes the pairs with the length caps. :func:`iterate_batches` then yields
:class:`Batch` arrays, from length buckets of fixed shape (so the model's
unrolled training step compiles once per bucket) or from groups of similar
length.
"""
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np

from lasagne_seq2seq.data import text as text_module
from lasagne_seq2seq.data.corpora import (DATA_DIR,
    corpus_files,
    load_conversations,
    make_pairs,
    resolve_corpus,
    split_conversations)
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.files import atomic_open
from lasagne_seq2seq.data.text import tokenize
from lasagne_seq2seq.data.vocab import (EOS_ID, PAD_ID, START_ID, SubwordVocabulary,
                                        Vocabulary)

__all__ = ["EncodedPairs", "Dataset", "Batch", "build_dataset", "tokenized_conversations",
           "subword_vocabulary",
           "source_batch", "make_batch", "iterate_batches", "default_buckets"]

#: Tokenized corpora are cached here (git-ignored).
CACHE_DIR = DATA_DIR.parent / "cache"
#: Smaller corpora tokenize in well under a second: not worth a cache file.
CACHE_MIN_BYTES = 1 << 20
#: Corpora with fewer conversations are split by pair: a split by
#: conversation would leave the held-out sets empty or a single conversation.
MIN_CONVERSATIONS_TO_SPLIT = 100
# The tokenizer as imported: any change to text.py makes cached tokens stale.
_TOKENIZER_CODE = hashlib.sha1(Path(text_module.__file__).read_bytes()).hexdigest()


@dataclass
class EncodedPairs:
    """Question and reply token ids (truncated; no START or EOS).

    ``conversation`` holds, when known, the index of the conversation each
    pair comes from, pairs of a conversation consecutive and in order
    (multi-turn training, :mod:`lasagne_seq2seq.multiturn`, reads it).
    """
    src: List[np.ndarray] = field(default_factory=list)
    tgt: List[np.ndarray] = field(default_factory=list)
    conversation: List[int] = field(default_factory=list)

    def __len__(self):
        return len(self.src)

    def num_tokens(self):
        """Tokens on both sides."""
        return sum(len(s) for s in self.src) + sum(len(t) for t in self.tgt)


@dataclass
class Dataset:
    """Encoded train/valid/test pairs, their vocabulary and statistics."""
    vocab: Vocabulary
    train: EncodedPairs
    valid: EncodedPairs
    test: EncodedPairs
    stats: dict

    def summary(self):
        """One line: what was read, kept, truncated and covered."""
        s = self.stats
        return ("%s: %d conversations, %s utterances, %s pairs (train %s / valid %s / test %s), "
                "vocabulary %d %s, token coverage %.1f%%, truncated %.1f%% src"
                " / %.1f%% tgt (caps %d/%d)" % (
                    s["corpus"], s["conversations"], format(s["utterances"], ","),
                    format(s["pairs"], ","), format(len(self.train), ","),
                    format(len(self.valid), ","), format(len(self.test), ","),
                    len(self.vocab), "%s pieces" % self.vocab.model_type
                    if isinstance(self.vocab, SubwordVocabulary)
                    else "(min count %d)" % s["min_count"], 100 * s["coverage"],
                    100 * s["truncated_src"], 100 * s["truncated_tgt"],
                    s["max_src_len"], s["max_tgt_len"]))


@dataclass
class Batch:
    """Padded arrays for one training step.

    Attributes
    ----------
    src : int32 (batch, src_len)
        Question ids, PAD-padded (reversed when the model asks for it).
    src_mask : float32 (batch, src_len)
        1 for real tokens.
    tgt_in : int32 (batch, tgt_len + 1)
        START then the reply: the decoder's inputs (teacher forcing).
    tgt_out : int32 (batch, tgt_len + 1)
        The reply then EOS: what the decoder must predict.
    tgt_mask : float32 (batch, tgt_len + 1)
    """
    src: np.ndarray
    src_mask: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    tgt_mask: np.ndarray

    def num_tgt_tokens(self):
        return int(self.tgt_mask.sum())

    def num_src_tokens(self):
        return int(self.src_mask.sum())


def _encode_side(token_lists, vocab, cap):
    """Ids of each utterance's words (pieces, with subwords), cut at ``cap``."""
    arrays, truncated = [], 0
    for words in token_lists:
        tokens = vocab.segment(words)
        truncated += len(tokens) > cap
        arrays.append(np.asarray(vocab.encode(tokens[:cap]), dtype=np.int32))
    return arrays, truncated


def subword_vocabulary(utterances, size, model_type):
    """A :class:`SubwordVocabulary` trained on ``utterances``, cached.

    Text of at least :data:`CACHE_MIN_BYTES` is cached in :data:`CACHE_DIR`
    as ``spm-HASH.model``, the hash covering the text, ``size``,
    ``model_type`` and the sentencepiece version: a rerun on the same
    training split loads the model instead of training it again.

    Parameters
    ----------
    utterances : list of list of str
        Tokenized utterances (the training split's).
    size : int
        Pieces, the special tokens included.
    model_type : {"unigram", "bpe"}

    Returns
    -------
    SubwordVocabulary
    """
    import sentencepiece
    sentences = [" ".join(words) for words in utterances]
    digest = hashlib.sha1(json.dumps([size, model_type, sentencepiece.__version__]).encode())
    for sentence in sentences:
        digest.update(sentence.encode("utf-8") + b"\n")
    cache_path = None
    if sum(len(sentence) for sentence in sentences) >= CACHE_MIN_BYTES:
        cache_path = os.path.join(str(CACHE_DIR), "spm-%s.model" % digest.hexdigest()[:16])
        try:
            with open(cache_path, "rb") as handle:
                return SubwordVocabulary(handle.read(), model_type)
        except (OSError, RuntimeError):  # missing, or not a model (sentencepiece)
            pass
    vocab = SubwordVocabulary.train(sentences, size, model_type)
    if cache_path:
        try:
            with atomic_open(cache_path, "wb") as handle:
                handle.write(vocab.model)
        except OSError as error:
            warnings.warn("could not cache the SentencePiece model in %s (%s): every run "
                          "trains it again" % (cache_path, error))
    return vocab


def tokenized_conversations(corpus, fmt="auto", encoding="utf-8", tokenizer="default"):
    """A corpus's conversations as token lists, each utterance tokenized once.

    Corpora of at least :data:`CACHE_MIN_BYTES` are cached in
    :data:`CACHE_DIR`, keyed on the file's path, size and modification time,
    the format, encoding and tokenizer, and the tokenizer's source code: a
    rerun reads the tokens back instead of tokenizing again. A cache file
    that is stale, truncated or unreadable is ignored and rewritten.

    Parameters
    ----------
    corpus : str
        Corpus name or path (see :func:`~lasagne_seq2seq.data.corpora.load_conversations`).
    fmt, encoding : str
        Format and text encoding of the corpus file.
    tokenizer : {"default", "classic"}

    Returns
    -------
    list of list of list of str
        Conversations, each a list of tokenized utterances (possibly empty).
    """
    path, fmt = resolve_corpus(corpus, fmt)
    tokenize("", tokenizer)  # an unknown tokenizer fails before any reading
    cache_path, key = _cache_entry(path, fmt, encoding, tokenizer)
    conversations = _read_cache(cache_path, key) if cache_path else None
    if conversations is None:
        conversations = [[tokenize(u, tokenizer) for u in conversation]
                         for conversation in load_conversations(path, fmt, encoding)]
        if cache_path:
            _write_cache(cache_path, key, conversations)
    return conversations


def _cache_entry(path, fmt, encoding, tokenizer):
    """The cache file for these settings (None for small corpora) and the key
    its first line must hold to be current."""
    files = [os.path.abspath(name) for name in corpus_files(path, fmt)]
    stats = [os.stat(name) for name in files if os.path.exists(name)]
    if sum(stat.st_size for stat in stats) < CACHE_MIN_BYTES:
        return None, None
    settings = [files, fmt, encoding, tokenizer]
    name = hashlib.sha1(json.dumps(settings).encode("utf-8")).hexdigest()[:16]
    key = json.dumps([settings, [[s.st_size, s.st_mtime_ns] for s in stats], _TOKENIZER_CODE])
    return os.path.join(str(CACHE_DIR), "tokens-%s.json" % name), key


def _read_cache(cache_path, key):
    """Cached conversations, or None when missing, stale or unreadable."""
    try:
        with open(cache_path, encoding="utf-8") as handle:
            if handle.readline().rstrip("\n") != key:
                return None
            conversations = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    if isinstance(conversations, list) and all(isinstance(c, list) for c in conversations):
        return conversations
    return None


def _write_cache(cache_path, key, conversations):
    """Write the cache; a failure (read-only checkout, full disk) only warns."""
    try:
        with atomic_open(cache_path) as handle:
            handle.write(key + "\n")
            json.dump(conversations, handle, ensure_ascii=False, separators=(",", ":"))
    except OSError as error:
        warnings.warn("could not cache tokens in %s (%s): every run tokenizes again"
                      % (cache_path, error))


def _split_pairs(conversations, pairing, valid_fraction, test_fraction, seed):
    """Train, valid and test ``(question, reply, conversation index)`` triples,
    split by conversation (or by pair when there are too few conversations),
    without pairs that have an empty side."""
    units = [[(q, r, index) for q, r in make_pairs([conversation], pairing)]
             for index, conversation in enumerate(conversations)]
    if len(conversations) < MIN_CONVERSATIONS_TO_SPLIT:
        units = [[pair] for unit in units for pair in unit]
    splits = split_conversations(units, valid_fraction, test_fraction, seed)
    return [[(q, r, c) for unit in split for q, r, c in unit if q and r] for split in splits]


def build_dataset(corpus, fmt="auto", encoding="utf-8", tokenizer="default",
                  pairing="consecutive", vocab_size=22000, min_count=1, max_src_len=15,
                  max_tgt_len=15, valid_fraction=0.05, test_fraction=0.05, seed=0,
                  vocab=None, max_pairs=None, vocab_type="word"):
    """Read, split, tokenize and encode a corpus.

    Splits are made by conversation, so no pair leaks from training into
    the held-out splits. A corpus with fewer than
    :data:`MIN_CONVERSATIONS_TO_SPLIT` conversations (a ``plain`` file is one
    long sequence) is split by pair instead, seeded the same way.
    Utterances are tokenized once (and cached, see
    :func:`tokenized_conversations`); pairs with an empty side are dropped.

    Parameters
    ----------
    corpus, fmt, encoding, tokenizer : str
        The corpus (name or path), its format and text encoding, and the
        tokenizer, as for :func:`tokenized_conversations`.
    pairing : {"consecutive", "alternate"}
    vocab_size, min_count : int
        Vocabulary size (specials included) and minimum frequency (of
        words; a subword vocabulary has no minimum).
    max_src_len, max_tgt_len : int
        Truncate questions and replies to these many tokens (pieces, with
        a subword vocabulary).
    valid_fraction, test_fraction : float
        Held-out shares.
    seed : int
        Seed of the split.
    vocab : Vocabulary, optional
        Use this vocabulary (resuming, evaluating) instead of building one.
    max_pairs : int, optional
        Keep only the first ``max_pairs`` training pairs (quick runs).
    vocab_type : {"word", "unigram", "bpe"}
        The vocabulary built when ``vocab`` is None: the most frequent words,
        or a SentencePiece model of that type trained on the training
        split's utterances (:func:`subword_vocabulary`).

    Returns
    -------
    Dataset
    """
    conversations = tokenized_conversations(corpus, fmt, encoding, tokenizer)
    tokenized = _split_pairs(conversations, pairing, valid_fraction, test_fraction, seed)
    if max_pairs:
        tokenized[0] = tokenized[0][:max_pairs]
    if not tokenized[0]:
        raise Seq2SeqError("%s: no training pairs left after tokenizing and splitting: check "
                           "--format and --pairing, or lower the held-out fractions" % corpus)
    if vocab is None and vocab_type == "word":
        vocab = Vocabulary.build((side for pair in tokenized[0] for side in pair[:2]),
                                 max_size=vocab_size, min_count=min_count)
    elif vocab is None:
        vocab = subword_vocabulary([side for pair in tokenized[0] for side in pair[:2]],
                                   vocab_size, vocab_type)
    encoded, truncated_src, truncated_tgt = [], 0, 0
    for pairs in tokenized:
        src, cut_src = _encode_side([q for q, _, _ in pairs], vocab, max_src_len)
        tgt, cut_tgt = _encode_side([r for _, r, _ in pairs], vocab, max_tgt_len)
        encoded.append(EncodedPairs(src, tgt, [c for _, _, c in pairs]))
        truncated_src += cut_src
        truncated_tgt += cut_tgt
    total = sum(len(pairs) for pairs in tokenized)
    stats = {
        "corpus": str(corpus), "conversations": len(conversations),
        "utterances": sum(len(c) for c in conversations), "pairs": total,
        "min_count": min_count, "max_src_len": max_src_len, "max_tgt_len": max_tgt_len,
        "coverage": vocab.coverage(vocab.segment(side) for pair in tokenized[0]
                                   for side in pair[:2]),
        "truncated_src": truncated_src / max(total, 1),
        "truncated_tgt": truncated_tgt / max(total, 1),
    }
    return Dataset(vocab, encoded[0], encoded[1], encoded[2], stats)


def _pad(sequences, length, prefix=None, suffix=None):
    """A (len(sequences), length) int32 matrix and its float32 mask."""
    ids = np.full((len(sequences), length), PAD_ID, dtype=np.int32)
    mask = np.zeros((len(sequences), length), dtype=np.float32)
    for row, sequence in enumerate(sequences):
        sequence = list(sequence)
        if prefix is not None:
            sequence = [prefix] + sequence
        if suffix is not None:
            sequence = sequence + [suffix]
        ids[row, :len(sequence)] = sequence
        mask[row, :len(sequence)] = 1.0
    return ids, mask


def source_batch(id_lists, reverse=False, length=None):
    """Pad questions into a matrix (shared by training and decoding).

    Parameters
    ----------
    id_lists : list of sequences of int
    reverse : bool
        Reverse each question's tokens (the original's input reversal);
        padding stays at the end.
    length : int, optional
        Pad to exactly this width; the longest question's length otherwise.

    Returns
    -------
    src : int32 (n, length)
    src_mask : float32 (n, length)

    Examples
    --------
    >>> src, mask = source_batch([[5, 6, 7], [8]], reverse=True)
    >>> src.tolist(), mask.tolist()
    ([[7, 6, 5], [8, 0, 0]], [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    """
    longest = max((len(ids) for ids in id_lists), default=0)
    if length is not None and longest > length:
        raise ValueError("a question of %d tokens does not fit width %d" % (longest, length))
    sequences = [list(ids)[::-1] if reverse else ids for ids in id_lists]
    return _pad(sequences, length or longest)


def make_batch(pairs, indices, reverse_source, src_len=None, tgt_len=None):
    """The :class:`Batch` of ``pairs`` at ``indices``.

    Parameters
    ----------
    pairs : EncodedPairs
    indices : list of int
    reverse_source : bool
        Reverse the questions (see :func:`source_batch`).
    src_len, tgt_len : int, optional
        Pad to exactly these widths (a bucket's shape); to the longest otherwise.

    Returns
    -------
    Batch
    """
    src, src_mask = source_batch([pairs.src[i] for i in indices], reverse_source, src_len)
    replies = [pairs.tgt[i] for i in indices]
    width = (tgt_len if tgt_len is not None else max(len(r) for r in replies)) + 1
    tgt_in, _ = _pad(replies, width, prefix=START_ID)
    tgt_out, tgt_mask = _pad(replies, width, suffix=EOS_ID)
    return Batch(src, src_mask, tgt_in, tgt_out, tgt_mask)


def default_buckets(max_src_len, max_tgt_len, n=2):
    """``n`` length buckets evenly spaced up to the caps.

    Examples
    --------
    >>> default_buckets(15, 15, 2)
    [(8, 8), (15, 15)]
    """
    return [(int(np.ceil(max_src_len * (k + 1) / n)), int(np.ceil(max_tgt_len * (k + 1) / n)))
            for k in range(n)]


def iterate_batches(pairs, batch_size, rng=None, buckets=None, reverse_source=False):
    """Yield :class:`Batch` es covering every pair once.

    Parameters
    ----------
    pairs : EncodedPairs
    batch_size : int
    rng : numpy.random.RandomState, optional
        Shuffle pairs and batch order with it; fixed order when None.
    buckets : list of (int, int), optional
        ``(src_len, tgt_len)`` caps, ascending. A pair goes to the smallest
        bucket it fits, and every batch of a bucket has exactly that bucket's
        shape. Without buckets, pairs of similar length are batched together
        and each batch is as wide as its longest pair.
    reverse_source : bool
        Reverse the questions (see :func:`source_batch`).

    Yields
    ------
    Batch
    """
    if buckets and list(buckets) != sorted(buckets):
        raise ValueError("buckets must be sorted ascending: %s" % (buckets,))
    order = rng.permutation(len(pairs)) if rng is not None else np.arange(len(pairs))
    batches = []
    if buckets:
        members = [[] for _ in buckets]
        for i in order:
            for k, (src_len, tgt_len) in enumerate(buckets):
                if len(pairs.src[i]) <= src_len and len(pairs.tgt[i]) <= tgt_len:
                    members[k].append(i)
                    break
            else:
                raise Seq2SeqError("a pair of %d/%d tokens fits no bucket up to %s: raise the "
                                   "largest bucket to the length caps" % (
                                       len(pairs.src[i]), len(pairs.tgt[i]), buckets[-1]))
        for (src_len, tgt_len), indices in zip(buckets, members):
            batches += [(indices[s:s + batch_size], src_len, tgt_len)
                        for s in range(0, len(indices), batch_size)]
    else:
        # Sort by length inside chunks of 50 batches: little padding, still random.
        chunk = batch_size * 50
        for start in range(0, len(order), chunk):
            part = sorted(order[start:start + chunk],
                          key=lambda i: (len(pairs.src[i]), len(pairs.tgt[i])))
            batches += [(part[s:s + batch_size], None, None)
                        for s in range(0, len(part), batch_size)]
    if rng is not None:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    for indices, src_len, tgt_len in batches:
        yield make_batch(pairs, indices, reverse_source, src_len, tgt_len)
