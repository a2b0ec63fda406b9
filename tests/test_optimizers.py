"""The fused optimiser step equals Lasagne's clipping and Adam, step by step."""
import numpy as np
import pytest

import theano
import theano.tensor as T
import lasagne

from lasagne_seq2seq.train.optimizers import (AdamStep, SumOfSquares, budget_fraction,
                                              clipped_updates, scheduled_learning_rate)

SHAPES = [(7, 5), (5,), (3, 4, 2)]


def shared_params(seed):
    rng = np.random.RandomState(seed)
    return [theano.shared(rng.randn(*shape).astype("float32"), name="p%d" % i)
            for i, shape in enumerate(SHAPES)]


def lasagne_step(params, grads, optimizer, max_norm, scales, learning_rate):
    """The reference: Lasagne's own ops, as the trainer used them before."""
    scaled = [g * s for g, s in zip(grads, scales)]
    if max_norm:
        scaled, norm = lasagne.updates.total_norm_constraint(scaled, max_norm, return_norm=True)
    else:
        norm = T.sqrt(sum(T.sum(g ** 2) for g in scaled))
    update = lasagne.updates.adam if optimizer == "adam" else lasagne.updates.adadelta
    return update(scaled, params, learning_rate=learning_rate), norm


@pytest.mark.parametrize("optimizer,max_norm", [("adam", 1.0), ("adam", None), ("adadelta", 1.0)])
def test_clipped_updates_equal_lasagnes_clipping_and_optimizer(optimizer, max_norm):
    grads = [T.TensorType("float32", (False,) * len(shape))() for shape in SHAPES]
    gate = theano.shared(np.float32(1.0))
    scales = [gate, 1.0, 1.0]  # the trainer's encoder gate on the first parameter
    functions = []
    for build in (clipped_updates, None):
        params = shared_params(0)
        if build is None:
            updates, norm = lasagne_step(params, grads, optimizer, max_norm, scales, 0.01)
        else:
            updates, norm = build(grads, params, optimizer, learning_rate=0.01,
                                  max_norm=max_norm, grad_scales=scales)
        functions.append((params, theano.function(grads, norm, updates=updates)))
    rng = np.random.RandomState(1)
    for step in range(6):
        gate.set_value(np.float32(0.0 if step < 2 else 1.0))  # frozen, then training
        values = [(3 * rng.randn(*shape)).astype("float32") for shape in SHAPES]
        norms = [float(function(*values)) for _, function in functions]
        np.testing.assert_allclose(norms[0], norms[1], rtol=1e-5)
        for fused, reference in zip(functions[0][0], functions[1][0]):
            np.testing.assert_allclose(fused.get_value(), reference.get_value(), rtol=1e-5,
                                       atol=1e-6, err_msg="step %d %s" % (step, fused.name))
    assert not np.allclose(functions[0][0][1].get_value(), shared_params(0)[1].get_value())


def test_the_adam_step_is_fused_and_in_place():
    params = shared_params(0)
    grads = [T.TensorType("float32", (False,) * len(shape))() for shape in SHAPES]
    updates, _ = clipped_updates(grads, params, "adam", max_norm=5.0)
    before = params[0].get_value(borrow=True)
    function = theano.function(grads, [], updates=updates)
    ops = [node.op for node in function.maker.fgraph.toposort()]
    assert sum(isinstance(op, AdamStep) and op.inplace for op in ops) == len(SHAPES)
    assert sum(isinstance(op, SumOfSquares) for op in ops) == len(SHAPES)
    function(*[np.ones(shape, "float32") for shape in SHAPES])
    after = params[0].get_value(borrow=True)
    assert np.shares_memory(before, after)  # updated where it was, no new array
    np.testing.assert_allclose(after, shared_params(0)[0].get_value() - 0.001, rtol=1e-4)


def test_sum_of_squares_on_strided_input():
    x = T.fmatrix()
    function = theano.function([x], SumOfSquares()(x.T[::2]))
    value = np.random.RandomState(0).randn(6, 9).astype("float32")
    np.testing.assert_allclose(function(value), np.sum(value.T[::2].astype(np.float64) ** 2),
                               rtol=1e-6)


def test_the_out_of_place_adam_step_leaves_its_inputs_alone():
    # What the graph holds until the in-place rewrite runs (and what runs
    # where Theano's in-place rewrites are excluded).
    rng = np.random.RandomState(2)
    arrays = [rng.randn(4, 3).astype("float32") for _ in range(4)]
    arrays[2] = np.abs(arrays[2])  # the second moment is never negative
    inputs = [T.fmatrix() for _ in range(4)]
    outputs = {}
    for inplace in (False, True):
        step = AdamStep(inplace=inplace)(*inputs, np.float32(0.5), np.float32(0.01))
        mode = theano.compile.mode.get_default_mode().excluding("inplace")
        function = theano.function(inputs, list(step), mode=mode, accept_inplace=inplace)
        copies = [a.copy() for a in arrays]
        outputs[inplace] = function(*copies)
        assert all(np.array_equal(a, b) for a, b in zip(copies, arrays)) != inplace
    for out_of_place, in_place in zip(outputs[False], outputs[True]):
        np.testing.assert_allclose(out_of_place, in_place, rtol=1e-6)


@pytest.mark.parametrize("schedule,expected", [
    ("constant", [1.0, 1.0, 1.0]), ("linear", [1.0, 0.5, 0.0]), ("cosine", [1.0, 0.5, 0.0])])
def test_schedules_fall_from_the_peak_to_zero_over_the_budget(schedule, expected):
    from lasagne_seq2seq.config import TrainConfig
    config = TrainConfig(lr_schedule=schedule, learning_rate=0.004)
    rates = [scheduled_learning_rate(config, 1000, fraction) for fraction in (0.0, 0.5, 1.0)]
    np.testing.assert_allclose(rates, [0.004 * e for e in expected], atol=1e-12)


def test_warmup_ramps_up_then_hands_over_to_the_schedule():
    from lasagne_seq2seq.config import TrainConfig
    config = TrainConfig(lr_schedule="cosine", warmup_steps=10, learning_rate=0.01)
    assert scheduled_learning_rate(config, 0, 0.0) == pytest.approx(0.001)
    assert scheduled_learning_rate(config, 4, 0.0) == pytest.approx(0.005)
    assert scheduled_learning_rate(config, 9, 0.0) == pytest.approx(0.01)
    assert scheduled_learning_rate(config, 50, 0.25) == pytest.approx(
        0.01 * 0.5 * (1 + np.cos(np.pi / 4)))


def test_the_budget_is_the_first_limit_to_run_out():
    from lasagne_seq2seq.config import TrainConfig
    config = TrainConfig(epochs=4, max_steps=1000, max_minutes=10.0)
    assert budget_fraction(config, 100, 0.4, 60.0) == pytest.approx(0.1)   # all at 10%
    assert budget_fraction(config, 100, 0.4, 300.0) == pytest.approx(0.5)  # the clock leads
    assert budget_fraction(config, 900, 0.4, 60.0) == pytest.approx(0.9)   # the steps lead
    assert budget_fraction(config, 100, 3.0, 60.0) == pytest.approx(0.75)  # the epochs lead
    assert budget_fraction(config, 2000, 5.0, 9000.0) == 1.0
    assert budget_fraction(TrainConfig(epochs=4), 10 ** 6, 1.0, 10 ** 6) == pytest.approx(0.25)
