"""Tokenizers and detokenizer, on the original project's real movie lines."""
from pathlib import Path

import pytest
from nltk.tokenize import RegexpTokenizer

from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.data.text import detokenize, tokenize

MOVIE_LINES = (Path(__file__).resolve().parents[2] / "shared" / "reference" / "lasagne_seq2seq"
               / "data" / "train" / "movie_lines_cleaned_10k.txt")


@pytest.mark.skipif(not MOVIE_LINES.exists(), reason="../shared reference data absent")
def test_classic_mode_is_the_original_regular_expression():
    original = RegexpTokenizer(r"[#]+|[\w\$]+|[^\w\s]")
    lines = MOVIE_LINES.read_text(encoding="utf-8").splitlines()[:2000]
    assert all(tokenize(line, "classic") == original.tokenize(line.lower()) for line in lines)


def test_default_mode_keeps_contractions_and_punctuation_sensible():
    assert tokenize("I don't know, Bob!") == ["i", "do", "n't", "know", ",", "bob", "!"]
    assert tokenize("She's here.") == ["she", "'s", "here", "."]
    assert tokenize("Fine. You?") == ["fine", ".", "you", "?"]


@pytest.mark.parametrize("mode", ["default", "classic"])
@pytest.mark.parametrize("text", ["i don't know.", "i'm sure, it's john's dog!",
                                  "what? really...", "you'll see (maybe)."])
def test_detokenize_gives_readable_text_back(mode, text):
    assert detokenize(tokenize(text, mode)) == text


@pytest.mark.skipif(not MOVIE_LINES.exists(), reason="../shared reference data absent")
def test_detokenize_never_leaves_split_contractions_on_real_lines():
    for line in MOVIE_LINES.read_text(encoding="utf-8").splitlines()[:2000]:
        text = detokenize(tokenize(line, "classic"))
        assert " ' t " not in text and " n't" not in detokenize(tokenize(line))


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(Seq2SeqError, match="unknown tokenizer 'spacy'"):
        tokenize("hi", "spacy")


@pytest.mark.parametrize("text", ['he said "we\'re gonna win".', "'tis true, i cannot go.",
                                  "lemme see, it costs $5 (50% off)."])
def test_detokenize_rejoins_quotes_and_words_treebank_splits(text):
    tokens = tokenize(text)
    assert len(tokens) > len(text.split())  # the tokenizer did split them
    assert detokenize(tokens) == text
