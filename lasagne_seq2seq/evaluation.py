"""How good a trained model is, in numbers.

The metrics are pure NumPy/nltk and take token lists, so they work for every
model and decoding strategy; :func:`evaluate_run` puts them together for a
run directory (what ``bin/evaluate.py`` prints).

- :func:`distinct_n`: distinct n-grams / all n-grams over all replies
  (Li et al. 2016); low values mean dull, repetitive replies.
- :func:`corpus_bleu`: corpus BLEU-4 against one reference per reply, with
  nltk's smoothing so short replies without a 4-gram match do not score 0.
- :func:`mean_length`, :func:`top_reply_share`: the "I don't know" detector:
  a model that gives the same short reply to everything has a large share.
"""
from collections import Counter


def ngrams(tokens, n):
    """The n-grams of one token list, as tuples, in order.

    Parameters
    ----------
    tokens : sequence of str
    n : int
        Order, >= 1.

    Returns
    -------
    list of tuple

    Examples
    --------
    >>> ngrams(["a", "b", "c"], 2)
    [('a', 'b'), ('b', 'c')]
    """
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(token_lists, n):
    """Distinct-n: the number of distinct n-grams over the number of n-grams.

    Counted over all replies together (the corpus-level definition of Li et
    al. 2016, "A Diversity-Promoting Objective Function").

    Parameters
    ----------
    token_lists : iterable of sequence of str
        One token list per reply.
    n : int
        N-gram order, >= 1.

    Returns
    -------
    float
        In [0, 1]; 0.0 when the replies hold no n-gram at all.

    Examples
    --------
    >>> distinct_n([["i", "do"], ["i", "know"]], 1)
    0.75
    >>> distinct_n([["yes"], ["yes"]], 2)
    0.0
    """
    if n < 1:
        raise ValueError("n must be >= 1, got %d" % n)
    all_ngrams = [gram for tokens in token_lists for gram in ngrams(list(tokens), n)]
    return len(set(all_ngrams)) / len(all_ngrams) if all_ngrams else 0.0
