"""Sampled softmax (Jean et al. 2015): a training loss that skips most of the vocabulary.

The full softmax costs ``tokens x vocabulary`` per step in the output layer
(its logits and both of their gradients), most of the step at a 20,000-word
vocabulary. Sampled softmax scores each target token only against its own
word and ``K`` candidate words drawn once per batch from a proposal ``Q``,
with the logits corrected by ``-log(K Q(w))`` so the estimate stays
consistent (Jean et al. 2015, eq. 11-12; as TensorFlow's
``sampled_softmax_loss``). A candidate that happens to be a row's own target
is not a negative for that row ("accidental hits" are removed).

The proposal is log-uniform (Zipfian) over word ids,
``Q(w) = log((w + 2) / (w + 1)) / log(V + 1)``, which fits this project's
vocabularies: their ids are sorted by frequency.

Training only: validation perplexity and every decoder use the full softmax.
"""
import numpy as np

import theano
import theano.tensor as T

__all__ = ["log_uniform_candidates", "sampled_softmax_losses"]


def log_uniform_candidates(vocab_size, num_samples, rng):
    """Draw candidate word ids from the log-uniform proposal (with replacement).

    Parameters
    ----------
    vocab_size : int
        ``V``: ids are ``0 .. V-1``.
    num_samples : int
        ``K``, the number of candidates.
    rng : numpy.random.RandomState

    Returns
    -------
    int32 array ``(num_samples,)``

    Examples
    --------
    >>> ids = log_uniform_candidates(1000, 5000, np.random.RandomState(0))
    >>> int(ids.min()) >= 0 and int(ids.max()) < 1000, (ids < 10).mean() > 0.3
    (True, True)
    """
    # Inverse CDF: P(id < k) = log(k + 1) / log(V + 1).
    uniform = rng.uniform(size=num_samples)
    ids = np.floor(np.exp(uniform * np.log(vocab_size + 1.0))) - 1
    return np.clip(ids, 0, vocab_size - 1).astype(np.int32)


def _log_expected_count(ids, vocab_size, num_samples):
    """``log(K Q(id))``: how often ``K`` draws are expected to give ``id``."""
    floatx = theano.config.floatX
    ids = T.cast(ids, floatx)
    probability = T.log((ids + 2) / (ids + 1)) / np.float32(np.log(vocab_size + 1.0))
    return T.log(probability) + T.log(T.cast(num_samples, floatx))


def sampled_softmax_losses(features, weights, bias, targets, candidates, vocab_size):
    """Per-token sampled-softmax negative log-likelihoods.

    Parameters
    ----------
    features : Theano matrix ``(n, d)``
        What the output layer multiplies (the decoder's projected outputs).
    weights : Theano matrix ``(vocab_size, d)``
        The output layer's word vectors, one row per word.
    bias : Theano vector ``(vocab_size,)``
    targets : Theano int vector ``(n,)``
    candidates : Theano int vector ``(K,)``
        Drawn by :func:`log_uniform_candidates`, shared by the whole batch.
    vocab_size : int

    Returns
    -------
    Theano vector ``(n,)``
        ``-log`` of each target's probability among itself and the
        candidates, both corrected by ``-log(K Q(w))``.
    """
    num_samples = candidates.shape[0]
    true_logits = (T.sum(features * weights[targets], axis=1) + bias[targets]
                   - _log_expected_count(targets, vocab_size, num_samples))
    sampled_logits = (T.dot(features, weights[candidates].T) + bias[candidates]
                      - _log_expected_count(candidates, vocab_size, num_samples))
    hits = T.eq(targets.dimshuffle(0, "x"), candidates.dimshuffle("x", 0))
    sampled_logits = T.switch(hits, np.float32(-1e4), sampled_logits)
    # Column 0 holds each row's own word: the target of a (K + 1)-way softmax.
    logits = T.concatenate([true_logits.dimshuffle(0, "x"), sampled_logits], axis=1)
    return T.nnet.categorical_crossentropy(T.nnet.softmax(logits), T.zeros_like(targets))
