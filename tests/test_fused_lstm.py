"""The fused LSTM op computes what the unrolled LSTM steps compute, values and
gradients, with masks, an initial state, gradient clipping and backwards runs;
its NumPy fallback agrees with its C code; bad shapes get a clear error."""
import numpy as np
import pytest

from lasagne_seq2seq.nn.ops.fused_lstm import LSTMSequence, lstm_sequence  # before Theano: compat
from lasagne_seq2seq.nn.cells import LSTMLayer
import lasagne
import theano
import theano.tensor as T
from lasagne.layers import InputLayer, get_all_params, get_output

BATCH, STEPS, INPUTS, UNITS = 4, 5, 3, 6


def batch_data(seed=0):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(BATCH, STEPS, INPUTS)).astype("float32")
    mask = np.ones((BATCH, STEPS), "float32")
    mask[1, 3:] = 0  # a shorter example
    mask[2, 1:] = 0  # one real step only
    mask[3, :] = 0   # no real step: the initial state throughout
    state0 = rng.uniform(-1, 1, (BATCH, 2 * UNITS)).astype("float32")
    weights = rng.normal(size=(STEPS, 2 * UNITS)).astype("float32")
    return x, mask, state0, weights


def values_and_gradients(fused, backwards=False, grad_clipping=0.0, final=False):
    """The layer's states and the gradients of a cost that weights every state
    differently, for every parameter, the input and the initial state."""
    x, mask, state0 = T.ftensor3(), T.fmatrix(), T.fmatrix()
    lasagne.random.set_rng(np.random.RandomState(1))  # the same weights both times
    layer = LSTMLayer(InputLayer((None, None, INPUTS), x), UNITS,
                      mask_input=InputLayer((None, None), mask),
                      state_init=InputLayer((None, 2 * UNITS), state0), fused=fused,
                      backwards=backwards, grad_clipping=grad_clipping,
                      only_return_final=final, return_state=True)
    layer.W_hid.set_value(layer.W_hid.get_value() * 2)  # gates far from 0.5
    states = get_output(layer, n_steps=STEPS)
    xs, masks, starts, weights = batch_data()
    cost = T.sum(states * (weights[-1] if final else weights)) + T.sum(states ** 2)
    wrt = get_all_params(layer) + [x, state0]
    run = theano.function([x, mask, state0], [states] + T.grad(cost, wrt))
    return run(xs, masks, starts)


@pytest.mark.parametrize("backwards,grad_clipping,final", [
    (False, 0.0, False), (True, 0.0, False), (False, 0.02, True), (True, 0.02, False)])
def test_fused_matches_unrolled_steps(backwards, grad_clipping, final):
    unrolled = values_and_gradients(False, backwards, grad_clipping, final)
    fused = values_and_gradients(True, backwards, grad_clipping, final)
    names = ["states", "W_in", "W_hid", "b", "x", "state0"]
    for name, expected, got in zip(names, unrolled, fused):
        assert np.abs(expected).max() > 1e-3, name  # every gradient really flows
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5, err_msg=name)


def test_clipping_changes_the_gradient():
    # the clipped case above is not the unclipped one in disguise
    plain = values_and_gradients(True)
    clipped = values_and_gradients(True, grad_clipping=0.02)
    assert np.abs(plain[2] - clipped[2]).max() > 1e-2  # W_hid's gradient


def test_numpy_fallback_matches_c_code():
    p, w, s0, m = T.ftensor3(), T.fmatrix(), T.fmatrix(), T.fmatrix()
    states = lstm_sequence(p, w, s0, m, grad_clipping=0.05)
    outputs = [states] + T.grad(T.sum(states ** 2), [p, w, s0])
    rng = np.random.RandomState(3)
    _, masks, starts, _ = batch_data()
    args = [rng.normal(size=(BATCH, STEPS, 4 * UNITS)).astype("float32"),
            rng.normal(size=(UNITS, 4 * UNITS)).astype("float32"), starts, masks]
    c_code = theano.function([p, w, s0, m], outputs)(*args)
    numpy = theano.function([p, w, s0, m], outputs, mode=theano.Mode(linker="py"))(*args)
    for got, expected in zip(c_code, numpy):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_mismatched_shapes_get_a_clear_error():
    p, w, s0, m = T.ftensor3(), T.fmatrix(), T.fmatrix(), T.fmatrix()
    run = theano.function([p, w, s0, m], LSTMSequence()(p, w, s0, m)[0])
    good = [np.zeros((3, 2, 8), "float32"), np.zeros((2, 8), "float32"),
            np.zeros((3, 4), "float32"), np.ones((3, 2), "float32")]
    assert run(*good).shape == (3, 2, 4)
    with pytest.raises(ValueError, match="shapes do not fit"):
        run(good[0], good[1], np.zeros((5, 4), "float32"), good[3])


def test_layer_falls_back_to_steps_for_float64():
    x = T.tensor3(dtype="float64")
    layer = LSTMLayer(InputLayer((None, None, INPUTS), x), UNITS)
    graph = theano.function([x], get_output(layer, n_steps=STEPS)).maker.fgraph
    assert not any(isinstance(node.op, LSTMSequence) for node in graph.toposort())
    x32 = T.ftensor3()
    fused = LSTMLayer(InputLayer((None, None, INPUTS), x32), UNITS)
    graph = theano.function([x32], get_output(fused)).maker.fgraph
    assert any(isinstance(node.op, LSTMSequence) for node in graph.toposort())
