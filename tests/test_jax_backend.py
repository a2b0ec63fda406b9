"""The JAX back end (``--backend jax``) computes what the C back end does: for
v1, v2, attention and a GRU, the loss and every gradient of one batch within
1e-4 relative; training steps (fused Adam, clipping) the same losses; greedy
decoding the same replies; dropout's random streams the same numbers. Tiny
shapes (hidden 16, embedding 8, vocabulary 40). Needs jax: ``bash setup.sh
--with-jax``; skipped with that reason where it is absent."""
import importlib.util

import numpy as np
import pytest

from lasagne_seq2seq.backend.modes import compile_mode, select_backend, using_backend
from lasagne_seq2seq.config import ModelConfig
from lasagne_seq2seq.data.batches import EncodedPairs, iterate_batches
from lasagne_seq2seq.errors import Seq2SeqError

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed: bash setup.sh --with-jax")

VOCAB, EOS = 40, 2
MODELS = {"v1": dict(model="v1"), "v2": dict(model="v2"), "attention": dict(model="attention"),
          "gru": dict(model="v1", cell="gru")}


def batch_arrays():
    rng = np.random.RandomState(1)
    pairs = EncodedPairs([rng.randint(4, VOCAB, n).astype("int32") for n in (3, 5, 2)],
                         [rng.randint(4, VOCAB, n).astype("int32") for n in (4, 1, 3)])
    batch = next(iterate_batches(pairs, 3))
    return [batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask]


def network(name, **options):
    from lasagne_seq2seq.models.registry import build_network
    return build_network(ModelConfig(embedding_size=8, hidden_size=16,
                                     **dict(MODELS[name], **options)), VOCAB)


def loss_graph(net, arrays, deterministic=True):
    """The batch's symbolic inputs and loss, unrolled to its lengths as the trainer does."""
    import theano.tensor as T
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    terms = net.loss_terms(*variables, deterministic=deterministic,
                           n_src_steps=arrays[0].shape[1], n_tgt_steps=arrays[2].shape[1])
    return variables, terms.loss


def on_both_backends(compute):
    """``compute()`` with each back end selected: ``{"c": ..., "jax": ...}``."""
    results = {}
    for backend in ("c", "jax"):
        with using_backend(backend):
            results[backend] = compute()
    return results


def assert_close(expected, got, rtol=1e-4):
    """Equal within ``rtol`` of the array's largest magnitude."""
    expected, got = np.asarray(expected), np.asarray(got)
    assert expected.shape == got.shape
    scale = max(float(np.abs(expected).max()), 1e-12)
    assert float(np.abs(expected - got).max()) <= rtol * scale


def test_jax_without_jax_is_a_one_line_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "jax" else real(name, *args))
    with pytest.raises(Seq2SeqError, match=r"^--backend jax needs jax: bash setup.sh --with-jax"):
        select_backend("jax")
    assert compile_mode() is None
    with pytest.raises(Seq2SeqError, match="--backend tpu: choose among c, jax"):
        select_backend("tpu")


@needs_jax
@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_loss_and_every_gradient_equal_the_c_back_ends(name):
    import theano
    net, arrays = network(name), batch_arrays()
    variables, loss = loss_graph(net, arrays)
    outputs = [loss] + theano.grad(loss, net.params)
    results = on_both_backends(lambda: theano.function(
        variables, outputs, mode=compile_mode(), on_unused_input="ignore")(*arrays))
    assert len(results["jax"]) == len(net.params) + 1
    for expected, got in zip(results["c"], results["jax"]):
        assert_close(expected, got)


@needs_jax
@pytest.mark.parametrize("name", ["v1", "attention"])
def test_training_steps_give_the_same_losses(name):
    """Ten steps of clipped Adam (the fused SumOfSquares and AdamStep ops) and dropout."""
    import lasagne
    import theano
    from lasagne_seq2seq.train.optimizers import clipped_updates
    arrays = batch_arrays()

    def train():
        lasagne.random.set_rng(np.random.RandomState(3))  # the same dropout streams
        net = network(name, dropout=0.2)
        net.set_param_values(initial)  # the same start on both back ends
        variables, loss = loss_graph(net, arrays, deterministic=False)
        updates, norm = clipped_updates(theano.grad(loss, net.params), net.params,
                                        learning_rate=0.01, max_norm=1.0)
        step = theano.function(variables, [loss, norm], updates=updates, mode=compile_mode(),
                               on_unused_input="ignore")
        return np.array([step(*arrays) for _ in range(10)])
    initial = network(name).param_values()
    losses = on_both_backends(train)
    assert losses["c"][-1, 0] < losses["c"][0, 0]  # it learns
    assert_close(losses["c"], losses["jax"])


def greedy_replies(net, src, src_mask, steps=6):
    """Each row's argmax reply, step by step through the compiled decoder."""
    encode, step = net.compile_decoder()
    state, *extras = encode(src, src_mask)
    previous = np.full(len(src), EOS, "int32")
    replies = []
    for _ in range(steps):
        log_probs, state = step(previous, state, *extras)[:2]
        previous = log_probs.argmax(axis=1).astype("int32")
        replies.append(previous)
    return np.stack(replies, axis=1), log_probs


@needs_jax
@pytest.mark.parametrize("name", sorted(MODELS))
def test_greedy_decoding_gives_the_same_replies(name):
    net, arrays = network(name), batch_arrays()
    results = on_both_backends(lambda: greedy_replies(net, *arrays[:2]))
    np.testing.assert_array_equal(results["c"][0], results["jax"][0])
    assert_close(results["c"][1], results["jax"][1])


@needs_jax
def test_dropout_streams_draw_the_same_numbers():
    import theano
    from theano.sandbox.rng_mrg import MRG_RandomStream

    def draws():
        sample = MRG_RandomStream(123).uniform((5000,))
        f = theano.function([], sample, mode=compile_mode())
        return f(), f()  # the second call checks the advanced state
    results = on_both_backends(draws)
    for expected, got in zip(results["c"], results["jax"]):
        np.testing.assert_array_equal(expected, got)
