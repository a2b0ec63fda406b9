"""Tokenizing and detokenizing text (nltk).

Two tokenizers:

* ``classic`` reproduces the original project exactly: lowercase, then
  ``RegexpTokenizer(r'[#]+|[\\w\\$]+|[^\\w\\s]')`` ("don't" -> ``don ' t``).
* ``default`` lowercases and splits as the Penn Treebank does, keeping
  contractions as units a reader recognises ("don't" -> ``do n't``,
  "i'm" -> ``i 'm``) and punctuation as separate tokens.

:func:`detokenize` turns either back into readable text for printed replies.
"""
import re

from nltk.tokenize import RegexpTokenizer, TreebankWordTokenizer

from lasagne_seq2seq.errors import Seq2SeqError

__all__ = ["TOKENIZER_MODES", "tokenize", "detokenize"]

TOKENIZER_MODES = ("default", "classic")

# Treebank splits only an utterance's final period; chat turns hold several
# sentences ("fine. you?"), so periods before a space are split off first.
_INNER_PERIOD = re.compile(r"(?<=\w)\.(?=\s)")
_CLASSIC = RegexpTokenizer(r"[#]+|[\w\$]+|[^\w\s]")
_TREEBANK = TreebankWordTokenizer()
# Treebank turns quotes into `` and ''; dialogue reads better with plain quotes.
_QUOTES = {"``": '"', "''": '"'}

_CONTRACTION_SUFFIXES = {"n't", "'s", "'m", "'re", "'ll", "'ve", "'d"}
_NO_SPACE_BEFORE = {".", ",", "!", "?", ":", ";", "%", ")", "]", "}", "..."}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "#"}
# The classic tokenizer splits "don't" into don ' t: such pieces are glued back.
_CLASSIC_SUFFIXES = {"t", "s", "m", "re", "ll", "ve", "d"}
# Words Treebank cuts in two ("gonna" -> gon na, "'tis" -> 't is), glued back.
_SPLIT_WORDS = {("gon", "na"), ("wan", "na"), ("got", "ta"), ("gim", "me"), ("lem", "me"),
                ("can", "not"), ("d", "'ye"), ("more", "'n"), ("'t", "is"), ("'t", "was")}


def tokenize(text, mode="default"):
    """Split an utterance into lowercase tokens.

    Parameters
    ----------
    text : str
        One utterance.
    mode : {"default", "classic"}
        ``classic`` is the original project's regular expression.

    Returns
    -------
    list of str

    Examples
    --------
    >>> tokenize("I don't know.")
    ['i', 'do', "n't", 'know', '.']
    >>> tokenize("I don't know.", mode="classic")
    ['i', 'don', "'", 't', 'know', '.']
    """
    if mode == "default":
        text = _INNER_PERIOD.sub(" .", text.lower())
        return [_QUOTES.get(token, token) for token in _TREEBANK.tokenize(text)]
    if mode == "classic":
        return _CLASSIC.tokenize(text.lower())
    raise Seq2SeqError("unknown tokenizer %r: choose one of %s"
                       % (mode, ", ".join(TOKENIZER_MODES)))


def detokenize(tokens):
    """Join tokens into readable text.

    Parameters
    ----------
    tokens : list of str
        Tokens from either tokenizer.

    Returns
    -------
    str

    Examples
    --------
    >>> detokenize(['i', 'do', "n't", 'know', '.'])
    "i don't know."
    >>> detokenize(['i', 'don', "'", 't', 'know', '.'])
    "i don't know."
    >>> print(detokenize(['he', 'said', '"', 'we', "'re", 'gon', 'na', 'win', '"', '.']))
    he said "we're gonna win".
    """
    pieces, previous, open_quote, glue_next = [], None, False, False
    for token in _join_classic_contractions(tokens):
        closing = token == '"' and open_quote
        glue = pieces and (glue_next or closing or token in _CONTRACTION_SUFFIXES
                           or token in _NO_SPACE_BEFORE or (previous, token) in _SPLIT_WORDS)
        if glue:
            pieces[-1] += token
        else:
            pieces.append(token)
        if token == '"':
            open_quote = not open_quote
        # An opening quote sticks to the word after it, as "(" and "$" do.
        glue_next = token in _NO_SPACE_AFTER or (token == '"' and open_quote)
        previous = token
    return " ".join(pieces)


def _join_classic_contractions(tokens):
    """``don ' t`` -> ``don't`` (the classic tokenizer's split apostrophes)."""
    joined, i = [], 0
    while i < len(tokens):
        if (joined and tokens[i] == "'" and i + 1 < len(tokens)
                and tokens[i + 1] in _CLASSIC_SUFFIXES):
            joined[-1] += "'" + tokens[i + 1]
            i += 2
        else:
            joined.append(tokens[i])
            i += 1
    return joined
