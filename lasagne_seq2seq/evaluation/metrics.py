"""Reply metrics, pure Python over token lists (no Theano, no network).

- :func:`distinct_n`: distinct n-grams / all n-grams over all replies
  (Li et al. 2016); low values mean dull, repetitive replies.
- :func:`corpus_bleu`: corpus BLEU (up to 4-grams) against one reference per reply, on
  sacreBLEU's 0-100 scale and with its default (``exp``) smoothing; ``<unk>`` never matches.
- :func:`mean_length`, :func:`top_reply_share`: the "I don't know" detector:
  a model that gives the same short reply to everything has a large share.
- :func:`unk_share`: the share of replies holding ``<unk>``.
"""
import math
from collections import Counter

#: sacreBLEU's ``log(0)``: an n-gram order the replies never reach.
_SACREBLEU_LOG_ZERO = -9999999999


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
    """Corpus BLEU of replies against one reference reply each, on sacreBLEU's 0-100 scale.

    The algorithm of sacreBLEU's ``corpus_bleu`` (Post 2018) on tokens as
    given (its ``tokenize='none'``), with its default ``exp`` smoothing
    (Chen & Cherry 2014 method 3, as mteval-v13a: the k-th n-gram order
    without a match counts ``1 / 2**k`` matches). N-gram orders go up to
    ``max_order`` or the longest reference's length, whichever is smaller
    (sacreBLEU's ``max_ngram_order``): in a corpus of 3-word replies no reply
    has a 4-gram, and BLEU-4 would score even exact replies 0. On chat
    corpora (references of 4 tokens and more) it is sacreBLEU's default
    BLEU-4; ``tests/test_unk.py`` checks it against sacreBLEU within 1e-3.

    A reply token that is or holds ``<unk>`` never matches: a model that
    answers ``<unk>`` to a reference whose rare word the vocabulary also
    reads as ``<unk>`` did not say that word.

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
        In [0, 100]; 0.0 when no reply n-gram matches.

    Examples
    --------
    >>> round(corpus_bleu([["a", "b", "c", "d"]], [["a", "b", "c", "d"]]), 6)
    100.0
    >>> reference = [["a", "b", "c", "<unk>"]]
    >>> said_unk = corpus_bleu(reference, [["a", "b", "c", "<unk>"]])
    >>> said_unk == corpus_bleu(reference, [["a", "b", "c", "x"]])
    True
    >>> corpus_bleu([["<unk>"]], [["<unk>"]])
    0.0
    >>> round(corpus_bleu([["a", "b", "c"]], [["a", "b", "c"]]), 6)  # BLEU-3: no 4-gram
    100.0
    """
    from lasagne_seq2seq.data.vocab import UNK
    if len(references) != len(hypotheses):
        raise ValueError("%d references for %d hypotheses" % (len(references), len(hypotheses)))
    if not references:
        return 0.0
    max_order = max(1, min(max_order, max(len(r) for r in references)))
    correct, total = [0] * max_order, [0] * max_order
    reply_length = reference_length = 0
    for reference, hypothesis in zip(references, hypotheses):
        reference, hypothesis = list(reference), list(hypothesis)
        reply_length += len(hypothesis)
        reference_length += len(reference)
        for n in range(1, max_order + 1):
            reference_counts = Counter(ngrams(reference, n))
            grams = ngrams(hypothesis, n)
            total[n - 1] += len(grams)
            counts = Counter(gram for gram in grams if not any(UNK in token for token in gram))
            correct[n - 1] += sum(min(count, reference_counts[gram])
                                  for gram, count in counts.items())
    if not any(correct):
        return 0.0
    log_precisions, smoothing = [], 1.0
    for n in range(max_order):
        if total[n] == 0:
            log_precisions.append(_SACREBLEU_LOG_ZERO)
        elif correct[n] == 0:
            smoothing *= 2
            log_precisions.append(math.log(100.0 / (smoothing * total[n])))
        else:
            log_precisions.append(math.log(100.0 * correct[n] / total[n]))
    brevity = 1.0
    if reply_length < reference_length:
        brevity = math.exp(1 - reference_length / reply_length)
    return brevity * math.exp(sum(log_precisions) / max_order)


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


def unk_share(token_lists):
    """The share of replies with a token that is or holds ``<unk>``.

    Parameters
    ----------
    token_lists : sequence of sequence of str

    Returns
    -------
    float
        In [0, 1]; 0.0 for no replies.

    Examples
    --------
    >>> unk_share([["a", "<unk>"], ["b"], ["<unk>", "<unk>"], ["c"]])
    0.5
    """
    from lasagne_seq2seq.data.vocab import UNK
    if not token_lists:
        return 0.0
    return sum(any(UNK in token for token in tokens) for tokens in token_lists) / len(token_lists)


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
        (detokenized, for reading), ``unk_reply_share``.
    """
    from lasagne_seq2seq.data.text import detokenize
    top_reply, share = most_common_reply(hypotheses)
    return {"bleu": corpus_bleu(references, hypotheses),
            "distinct_1": distinct_n(hypotheses, 1), "distinct_2": distinct_n(hypotheses, 2),
            "mean_length": mean_length(hypotheses),
            "reference_mean_length": mean_length(references),
            "top_reply_share": share, "top_reply": detokenize(top_reply),
            "unk_reply_share": unk_share(hypotheses)}
