"""The output layer's cross-entropy op and the log-softmax op compute what
Theano's own ops compute: the loss and the gradients of the features, the
weights (either layout) and the bias."""
import numpy as np
import pytest

from lasagne_seq2seq.nn.ops.crossentropy import (LinearSoftmaxCrossEntropy,
    linear_softmax_cross_entropy,
    log_softmax,
    scored_rows)
import theano
import theano.tensor as T

TOKENS, FEATURES, WORDS = 37, 9, 301


def loss_and_gradients(word_rows, mode=None, ours=True):
    """nll and the gradients of a masked sum of it, as functions of
    (x, W, b, targets, mask); W is (V, E) for ``word_rows`` (a tied layer's
    embeddings, used transposed), else (E, V)."""
    x, W, b, t, w = T.fmatrix("x"), T.fmatrix("W"), T.fvector("b"), T.ivector("t"), T.fvector("w")
    weights = W.T if word_rows else W
    if ours:
        nll = linear_softmax_cross_entropy(x, weights, b, t)
    else:
        nll = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, weights) + b), t)
    loss = T.sum(nll * w)
    return theano.function([x, W, b, t, w], [nll] + T.grad(loss, [x, W, b]), mode=mode)


def random_inputs(word_rows, scale, seed=0):
    rng = np.random.RandomState(seed)
    x = (scale * rng.randn(TOKENS, FEATURES) / 3).astype("float32")
    W = rng.randn(*((WORDS, FEATURES) if word_rows else (FEATURES, WORDS))).astype("float32")
    b = rng.randn(WORDS).astype("float32")
    t = rng.randint(0, WORDS, TOKENS).astype("int32")
    w = (rng.rand(TOKENS) > 0.3).astype("float32")  # a mask, as in training
    return x, W, b, t, w


@pytest.mark.parametrize("word_rows", [False, True])
@pytest.mark.parametrize("scale", [1.0, 60.0])  # 60: rows spanning exp's whole float32 range
def test_loss_and_gradients_match_theanos_ops(word_rows, scale):
    inputs = random_inputs(word_rows, scale)
    ours = loss_and_gradients(word_rows)(*inputs)
    theirs = loss_and_gradients(word_rows, ours=False)(*inputs)
    for name, mine, reference in zip(("nll", "dx", "dW", "db"), ours, theirs):
        assert np.abs(reference).max() > 1e-3, name
        np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5 * max(1, scale) ** 2,
                                   err_msg=name)


@pytest.mark.parametrize("word_rows", [False, True])
@pytest.mark.parametrize("real", ["some", "none"])
def test_scoring_only_the_masks_rows_keeps_the_loss_and_gradients(word_rows, real):
    """The models score ``x[rows]`` for ``rows = scored_rows(mask)``: on the C
    back end the mask's nonzero rows only, with the same loss and gradients
    as every row weighed by the mask (none: a zero loss and zero gradients)."""
    x, W, b, t, w = T.fmatrix("x"), T.fmatrix("W"), T.fvector("b"), T.ivector("t"), T.fvector("w")
    rows = scored_rows(w)
    weights = W.T if word_rows else W
    loss = T.sum(linear_softmax_cross_entropy(x[rows], weights, b, t[rows]) * w[rows])
    compacted = theano.function([x, W, b, t, w], [rows, loss] + T.grad(loss, [x, W, b]))
    full = loss_and_gradients(word_rows)
    inputs = random_inputs(word_rows, 1.0, seed=2)
    if real == "none":
        inputs = inputs[:-1] + (np.zeros(TOKENS, "float32"),)
    got_rows, got_loss, *got_grads = compacted(*inputs)
    nll, *expected_grads = full(*inputs)
    np.testing.assert_array_equal(got_rows, np.flatnonzero(inputs[-1]))
    np.testing.assert_allclose(got_loss, np.sum(nll * inputs[-1]), rtol=1e-5)
    for name, got, expected in zip(("dx", "dW", "db"), got_grads, expected_grads):
        if real == "none":
            assert not np.any(got), name
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("word_rows", [False, True])
def test_numpy_fallback_matches_c_code(word_rows):
    inputs = random_inputs(word_rows, 1.0, seed=1)
    c_code = loss_and_gradients(word_rows)(*inputs)
    numpy = loss_and_gradients(word_rows, mode=theano.Mode(linker="py"))(*inputs)
    for got, expected in zip(c_code, numpy):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_a_tied_layers_transposed_embeddings_go_to_the_op_untransposed():
    x, E, b, t = T.fmatrix(), T.fmatrix(), T.fvector(), T.ivector()
    graph = theano.function([x, E, b, t], linear_softmax_cross_entropy(x, E.T, b, t)).maker.fgraph
    ops = [node.op for node in graph.toposort() if isinstance(node.op, LinearSoftmaxCrossEntropy)]
    assert [op.word_rows for op in ops] == [True]


def test_strided_inputs_bad_targets_and_bad_shapes():
    run = loss_and_gradients(False)
    x, W, b, t, w = random_inputs(False, 1.0, seed=2)
    strided = np.asfortranarray(x)  # not C-contiguous
    np.testing.assert_allclose(run(strided, W, b, t, w)[1], run(x, W, b, t, w)[1], rtol=1e-6)
    with pytest.raises(IndexError, match="target 301 is out of range for a vocabulary of 301"):
        run(x, W, b, np.full(TOKENS, WORDS, "int32"), w)
    with pytest.raises(ValueError, match="shapes do not fit"):
        run(x, W, b[:-1], t, w)


@pytest.mark.parametrize("scale", [1.0, 60.0])
def test_log_softmax_matches_theanos(scale):
    x, b = T.fmatrix("x"), T.fvector("b")
    ours = theano.function([x, b], log_softmax(x, b))
    theirs = theano.function([x, b], T.nnet.logsoftmax(x + b))
    rng = np.random.RandomState(2)
    values = (scale * rng.randn(5, 301)).astype("float32"), rng.randn(301).astype("float32")
    np.testing.assert_allclose(ours(*values), theirs(*values), rtol=1e-5, atol=1e-4)
