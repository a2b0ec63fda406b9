"""Every cell matches an independent NumPy step, respects the mask, and has
correct gradients (theano.gradient.verify_grad on small shapes)."""
import numpy as np
import pytest

from lasagne_seq2seq.nn.cells import CELLS
from lasagne.layers import InputLayer, get_output
import theano
import theano.tensor as T

FAST = "FAST_COMPILE"  # tiny graphs: compile time dominates, not run time


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_step(cell, x, h, W_in, W_hid, b):
    """The published equations, written independently of the layers."""
    n = W_hid.shape[0]
    p = x @ W_in + b
    block = lambda m, k: m[:, k * n:(k + 1) * n]  # noqa: E731
    if cell == "lstm":
        hh, c = h[:, :n], h[:, n:]
        g = p + hh @ W_hid
        c = sigmoid(block(g, 1)) * c + sigmoid(block(g, 0)) * np.tanh(block(g, 2))
        return np.concatenate([sigmoid(block(g, 3)) * np.tanh(c), c], axis=1)
    if cell == "gru":
        r_, z_, c_ = (block(h @ W_hid, k) for k in range(3))
        r, z = sigmoid(block(p, 0) + r_), sigmoid(block(p, 1) + z_)
        return z * np.tanh(block(p, 2) + r * c_) + (1 - z) * h
    if cell == "irnn":
        return np.maximum(0.0, p + h @ W_hid)
    U = [block(W_hid, k) for k in range(W_hid.shape[1] // n)]
    if cell == "jzs1":
        z = sigmoid(block(p, 0))
        r = sigmoid(block(p, 1) + h @ U[0])
        candidate = np.tanh((r * h) @ U[1] + np.tanh(block(p, 2)))
    elif cell == "jzs2":
        z = sigmoid(block(p, 0) + h @ U[0])
        r = sigmoid(block(p, 1) + h @ U[1])
        candidate = np.tanh((r * h) @ U[2] + block(p, 2))
    else:  # jzs3
        z = sigmoid(block(p, 0) + np.tanh(h) @ U[0])
        r = sigmoid(block(p, 1) + h @ U[1])
        candidate = np.tanh((r * h) @ U[2] + block(p, 2))
    return z * candidate + (1 - z) * h


def random_layer(cell, inputs=3, units=4, seed=0):
    rng = np.random.RandomState(seed)
    l_in, l_mask, l_init = InputLayer((None, None, inputs)), InputLayer((None, None)), \
        InputLayer((None, None))
    layer = CELLS[cell](l_in, units, mask_input=l_mask, state_init=l_init, return_state=True)
    for param in layer.get_params():  # away from the special initial values
        param.set_value(rng.uniform(-0.8, 0.8, param.get_value().shape).astype("float32"))
    return layer, l_in, l_mask, l_init


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_cell_matches_numpy_reference_and_keeps_state_on_padding(cell):
    layer, l_in, l_mask, l_init = random_layer(cell)
    x, mask, state0 = T.tensor3(), T.matrix(), T.matrix()
    states = get_output(layer, {l_in: x, l_mask: mask, l_init: state0})
    run = theano.function([x, mask, state0], states, mode=FAST)

    rng = np.random.RandomState(1)
    xs = rng.normal(size=(2, 4, 3)).astype("float32")
    masks = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], "float32")
    start = rng.uniform(0, 1, (2, layer.state_size)).astype("float32")
    got = run(xs, masks, start)

    weights = [p.get_value() for p in (layer.W_in, layer.W_hid, layer.b)]
    expected, h = [], start.astype(np.float64)
    for t in range(4):
        new = numpy_step(cell, xs[:, t], h, *weights)
        h = np.where(masks[:, t:t + 1] > 0, new, h)
        expected.append(h)
    np.testing.assert_allclose(got, np.stack(expected, axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got[1, 3], got[1, 1])  # padding carries the state


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_cell_gradients_are_correct(cell):
    layer, l_in, l_mask, l_init = random_layer(cell, inputs=2, units=3)
    x, mask, state0 = T.tensor3(), T.matrix(), T.matrix()
    output = get_output(layer, {l_in: x, l_mask: mask, l_init: state0}, n_steps=3)
    W_hid = T.matrix()
    output = theano.clone(output, replace={layer.W_hid: W_hid})
    masks = np.array([[1, 1, 1], [1, 1, 0]], "float32")
    cost = lambda xs, hid, start: theano.clone(  # noqa: E731
        output, replace={x: xs, W_hid: hid, state0: start, mask: theano.shared(masks)}).sum()
    rng = np.random.RandomState(2)
    point = [rng.normal(size=(2, 3, 2)), layer.W_hid.get_value(),
             rng.uniform(0.1, 1, (2, layer.state_size))]
    # float32 like the layers: verify_grad picks its float32 step and tolerances.
    theano.gradient.verify_grad(cost, [p.astype("float32") for p in point], rng=rng, mode=FAST)


def test_irnn_starts_as_identity_and_mutants_have_their_recurrent_blocks():
    l_in = InputLayer((None, None, 3))
    irnn = CELLS["irnn"](l_in, 4)
    np.testing.assert_array_equal(irnn.W_hid.get_value(), np.eye(4))
    assert not irnn.b.get_value().any()
    widths = {name: CELLS[name](l_in, 4).W_hid.get_value().shape[1] for name in
              ("jzs1", "jzs2", "jzs3")}
    assert widths == {"jzs1": 8, "jzs2": 12, "jzs3": 12}  # JZS1's update gate ignores h


@pytest.mark.parametrize("cell, update_block", [("gru", 1), ("jzs1", 0), ("jzs2", 0),
                                                ("jzs3", 0)])
def test_a_closed_update_gate_keeps_the_state_in_every_gated_cell(cell, update_block):
    # One convention for the GRU family, h' = z * candidate + (1 - z) * h: the
    # GRU used to run the other way round (z kept the state), so the same
    # gate value meant the opposite in --cell gru and --cell jzs1.
    layer, l_in, l_mask, l_init = random_layer(cell)
    n = layer.num_units
    b = layer.b.get_value()
    b[update_block * n:(update_block + 1) * n] = -30.0  # z = sigmoid(-30 + ...) ~ 0
    layer.b.set_value(b)
    x, mask, state0 = T.tensor3(), T.matrix(), T.matrix()
    run = theano.function([x, mask, state0],
                          get_output(layer, {l_in: x, l_mask: mask, l_init: state0}), mode=FAST)
    start = np.random.RandomState(3).uniform(-1, 1, (2, layer.state_size)).astype("float32")
    got = run(np.ones((2, 3, 3), "float32"), np.ones((2, 3), "float32"), start)
    np.testing.assert_allclose(got[:, -1], start, atol=1e-5)
