"""Tokenizers and detokenizer, on lines like the original project's movie lines."""
import pytest
from nltk.tokenize import RegexpTokenizer

from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.data.text import detokenize, tokenize

#: Lines of the kinds in the original's movie_lines_cleaned_10k.txt: mixed
#: case, contractions and possessives, quotes, money, numbers, hash marks,
#: runs of punctuation, hyphens, dashes and the odd apostrophe-only word.
MOVIE_LINES = [
    "They don't know, do they?",
    "I'm not gonna tell you again -- get OUT!",
    "She's John's sister... isn't she?",
    "It costs $5,000.50 -- that's 50% off, pal.",
    "Room #12, the one with the broken door.",
    "We'll be there at 8:30, won't we?",
    "You've got to be kidding me!!!",
    "'Tis a pity, ma'am. Rock 'n' roll is dead.",
    "He said, \"we're gonna win,\" and we didn't.",
    "A well-known, twenty-one-year-old ex-con.",
    "Y'all ain't seen nothin' yet.",
    "What?! Why would I -- why would anyone -- do that?",
    "Okay. Okay, okay. OK?",
    "The '49ers won in '89; I'd bet on 'em again.",
    "Let's go.",
    "Wow",
    "Mr. and Mrs. O'Brien can't come tonight (they're sick).",
    "That's it: I quit; I'm done & I'm leaving.",
    "I shouldn't've said that... should I've?",
    "Ha! Ha-ha! You'd never.",
]


def test_classic_mode_is_the_original_regular_expression():
    original = RegexpTokenizer(r"[#]+|[\w\$]+|[^\w\s]")
    assert all(tokenize(line, "classic") == original.tokenize(line.lower()) for line in MOVIE_LINES)


def test_default_mode_keeps_contractions_and_punctuation_sensible():
    assert tokenize("I don't know, Bob!") == ["i", "do", "n't", "know", ",", "bob", "!"]
    assert tokenize("She's here.") == ["she", "'s", "here", "."]
    assert tokenize("Fine. You?") == ["fine", ".", "you", "?"]


@pytest.mark.parametrize("mode", ["default", "classic"])
@pytest.mark.parametrize("text", ["i don't know.", "i'm sure, it's john's dog!",
                                  "what? really...", "you'll see (maybe)."])
def test_detokenize_gives_readable_text_back(mode, text):
    assert detokenize(tokenize(text, mode)) == text


def test_detokenize_never_leaves_split_contractions_on_movie_lines():
    for line in MOVIE_LINES:
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
