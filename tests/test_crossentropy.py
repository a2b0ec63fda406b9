"""The OpenMP softmax cross-entropy and log-softmax ops compute what Theano's own ops compute."""
import numpy as np
import pytest

from lasagne_seq2seq.crossentropy import log_softmax, softmax_cross_entropy
import theano
import theano.tensor as T


@pytest.fixture(scope="module")
def both():
    """Loss, dx and db of a weighted sum of token losses: ours and Theano's."""
    x, b, t, w = T.fmatrix("x"), T.fvector("b"), T.ivector("t"), T.fvector("w")
    functions = []
    for nll in (softmax_cross_entropy(x, b, t),
                T.nnet.categorical_crossentropy(T.nnet.softmax(x + b), t)):
        loss = T.sum(nll * w)
        functions.append(theano.function([x, b, t, w], [nll] + T.grad(loss, [x, b])))
    return functions


@pytest.mark.parametrize("scale", [1.0, 60.0])  # 60: rows spanning exp's whole float32 range
def test_loss_and_gradients_match_theanos_op(both, scale):
    ours, theirs = both
    rng = np.random.RandomState(0)
    x = (scale * rng.randn(37, 301)).astype("float32")
    b = rng.randn(301).astype("float32")
    t = rng.randint(0, 301, 37).astype("int32")
    w = (rng.rand(37) > 0.3).astype("float32")  # a mask, as in training
    for name, mine, reference in zip(("nll", "dx", "db"), ours(x, b, t, w), theirs(x, b, t, w)):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-5 * max(1, scale),
                                   err_msg=name)


def test_strided_inputs_and_bad_targets(both):
    ours, theirs = both
    rng = np.random.RandomState(1)
    x = rng.randn(40, 8).astype("float32").T  # not C-contiguous
    b, w = rng.randn(40).astype("float32"), np.ones(8, "float32")
    t = rng.randint(0, 40, 8).astype("int32")
    np.testing.assert_allclose(ours(x, b, t, w)[1], theirs(x, b, t, w)[1], rtol=1e-5, atol=1e-6)
    with pytest.raises(IndexError, match="target is out of range"):
        ours(x, b, np.full(8, 40, "int32"), w)


@pytest.mark.parametrize("scale", [1.0, 60.0])
def test_log_softmax_matches_theanos(scale):
    x, b = T.fmatrix("x"), T.fvector("b")
    ours = theano.function([x, b], log_softmax(x, b))
    theirs = theano.function([x, b], T.nnet.logsoftmax(x + b))
    rng = np.random.RandomState(2)
    values = (scale * rng.randn(5, 301)).astype("float32"), rng.randn(301).astype("float32")
    np.testing.assert_allclose(ours(*values), theirs(*values), rtol=1e-5, atol=1e-4)
