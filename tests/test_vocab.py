"""The vocabulary: fixed specials, frequency order, UNK, JSON round trip."""
import pytest

from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.data.vocab import EOS_ID, PAD_ID, SPECIALS, START_ID, UNK_ID, Vocabulary

CORPUS = [["a", "b", "a"], ["c", "a", "b"], ["d"]]


def test_specials_have_fixed_ids_and_frequent_words_come_first():
    vocab = Vocabulary.build(CORPUS, max_size=7)
    assert vocab.tokens[:4] == list(SPECIALS)
    assert (PAD_ID, UNK_ID, START_ID, EOS_ID) == (0, 1, 2, 3)
    assert vocab.tokens[4:] == ["a", "b", "c"]  # d cut by max_size; ties by token


def test_min_count_drops_rare_words():
    assert Vocabulary.build(CORPUS, min_count=2).tokens[4:] == ["a", "b"]


def test_unknown_words_map_to_unk_and_are_reported():
    vocab = Vocabulary.build(CORPUS)
    assert vocab.encode(["a", "zebra"]) == [vocab.token_to_id["a"], UNK_ID]
    assert vocab.unknown_tokens(["a", "zebra"]) == ["zebra"]
    assert vocab.coverage([["a", "zebra"]]) == 0.5


def test_decode_stops_at_eos_and_hides_padding():
    vocab = Vocabulary.build(CORPUS)
    a, b = vocab.encode(["a", "b"])
    assert vocab.decode([START_ID, a, PAD_ID, b, EOS_ID, a]) == ["a", "b"]
    assert vocab.decode([START_ID, a], strip_special=False) == ["<s>", "a"]


def test_save_and_load_round_trip(tmp_path):
    vocab = Vocabulary.build(CORPUS)
    vocab.save(str(tmp_path / "vocab.json"))
    loaded = Vocabulary.load(str(tmp_path / "vocab.json"))
    assert loaded == vocab and loaded.counts == vocab.counts


def test_broken_vocabulary_files_are_clear_errors(tmp_path):
    path = tmp_path / "vocab.json"
    with pytest.raises(Seq2SeqError, match="not found"):
        Vocabulary.load(str(path))
    path.write_text("{truncated")
    with pytest.raises(Seq2SeqError, match="not a valid vocab.json"):
        Vocabulary.load(str(path))
    path.write_text('{"tokens": ["a", "b"]}')
    with pytest.raises(Seq2SeqError, match="not a valid vocab.json"):
        Vocabulary.load(str(path))


def test_a_vocabulary_must_start_with_the_specials_once():
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="each token once"):
        Vocabulary(list(SPECIALS) + ["a", "a"])


def test_a_directory_instead_of_a_vocabulary_is_a_clear_error(tmp_path):
    with pytest.raises(Seq2SeqError, match="cannot be read"):
        Vocabulary.load(str(tmp_path))
