"""Reply metrics, pure NumPy/nltk over token lists (no Theano, no network).

- :func:`distinct_n`: distinct n-grams / all n-grams over all replies
  (Li et al. 2016); low values mean dull, repetitive replies.
- :func:`corpus_bleu`: corpus BLEU (up to 4-grams) against one reference per reply, with
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


def corpus_bleu(references, hypotheses, max_order=4):
    """Corpus BLEU of replies against one reference reply each.

    Uses nltk's ``corpus_bleu`` with smoothing method 1 (Chen & Cherry
    2014: an epsilon count for n-gram orders without a match), so that short
    replies, which often have no 4-gram match at all, still get a graded
    score. N-gram orders go up to ``max_order`` or the longest reference's
    length, whichever is smaller: in a corpus of 3-word replies no reply has a
    4-gram, and BLEU-4 would cap even exact replies at 0.47.

    Parameters
    ----------
    references : sequence of sequence of str
        The reference reply of each pair.
    hypotheses : sequence of sequence of str
        The model's reply to each pair.
    max_order : int
        Longest n-gram counted (uniform weights up to it), at most the
        longest reference's length.

    Returns
    -------
    float
        In [0, 1]; 0.0 when every hypothesis is empty.

    Examples
    --------
    >>> corpus_bleu([["a", "b", "c", "d"]], [["a", "b", "c", "d"]])
    1.0
    >>> corpus_bleu([["a", "b", "c", "d"]], [["x", "y"]]) < 0.01
    True
    >>> corpus_bleu([["a", "b", "c"]], [["a", "b", "c"]])  # BLEU-3: no reference has a 4-gram
    1.0
    """
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu as nltk_corpus_bleu
    if len(references) != len(hypotheses):
        raise ValueError("%d references for %d hypotheses" % (len(references), len(hypotheses)))
    if not any(len(h) for h in hypotheses):
        return 0.0
    order = max(1, min(max_order, max(len(r) for r in references)))
    return float(nltk_corpus_bleu([[list(r)] for r in references], [list(h) for h in hypotheses],
                                  weights=(1.0 / order,) * order,
                                  smoothing_function=SmoothingFunction().method1))


def mean_length(token_lists):
    """Mean number of tokens per reply (0.0 for no replies).

    Examples
    --------
    >>> mean_length([["hi"], ["how", "are", "you"]])
    2.0
    """
    lengths = [len(tokens) for tokens in token_lists]
    return sum(lengths) / len(lengths) if lengths else 0.0


def most_common_reply(token_lists):
    """The most frequent reply and its share of all replies.

    Parameters
    ----------
    token_lists : sequence of sequence of str

    Returns
    -------
    reply : tuple of str
        The most frequent reply (the first seen among equals); () when empty.
    share : float
        Its share of the replies, in [0, 1].

    Examples
    --------
    >>> most_common_reply([["i", "don't", "know"], ["yes"], ["i", "don't", "know"]])[1]
    0.6666666666666666
    """
    counts = Counter(tuple(tokens) for tokens in token_lists)
    if not counts:
        return (), 0.0
    reply, count = counts.most_common(1)[0]
    return reply, count / len(token_lists)


def top_reply_share(token_lists):
    """Share of the replies equal to the most frequent one (1.0: always the same)."""
    return most_common_reply(token_lists)[1]


def reply_metrics(references, hypotheses):
    """Every reply metric of this module for one set of replies.

    Parameters
    ----------
    references, hypotheses : sequence of sequence of str
        Reference and model reply of each pair.

    Returns
    -------
    dict
        ``bleu``, ``distinct_1``, ``distinct_2``, ``mean_length``,
        ``reference_mean_length``, ``top_reply_share``, ``top_reply``
        (detokenized, for reading).
    """
    from lasagne_seq2seq.data.text import detokenize
    top_reply, share = most_common_reply(hypotheses)
    return {"bleu": corpus_bleu(references, hypotheses),
            "distinct_1": distinct_n(hypotheses, 1), "distinct_2": distinct_n(hypotheses, 2),
            "mean_length": mean_length(hypotheses),
            "reference_mean_length": mean_length(references),
            "top_reply_share": share, "top_reply": detokenize(top_reply)}
