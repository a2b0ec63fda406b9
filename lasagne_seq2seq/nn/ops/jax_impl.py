"""The package's fused ops in JAX, for ``--backend jax`` (XLA on CPU or GPU).

Each op of :mod:`.fused_lstm` and :mod:`.crossentropy` has a ``jax_funcify()``
method that returns one of these functions; theano-pymc's JAX linker finds it
through :mod:`lasagne_seq2seq.backend.compat` (item 8), so this module is
imported only when a graph is compiled for JAX, and only where jax is
installed. The arithmetic is the ops' NumPy ``perform`` (their reference),
written for XLA: the recurrence is a ``lax.scan`` over the time axis, a loop
that stays a loop (compiled once, whatever the length), and XLA fuses each
step's gate arithmetic as the C op's vectorised pass does.
"""
import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["lstm_sequence", "lstm_sequence_grad", "linear_softmax_cross_entropy",
           "linear_softmax_cross_entropy_grad", "log_softmax"]


def _clip(x, limit):
    return jnp.clip(x, -limit, limit) if limit else x


def _time_major(*arrays):
    return tuple(jnp.swapaxes(a, 0, 1) for a in arrays)


def lstm_sequence(projections, W_hid, state0, mask):
    """:class:`~lasagne_seq2seq.nn.ops.fused_lstm.LSTMSequence`: ``(states, activations)``.

    Parameters
    ----------
    projections : array (batch, time, 4 units)
    W_hid : array (units, 4 units)
    state0 : array (batch, 2 units)
        ``[h, c]``.
    mask : array (batch, time)
        Nonzero for real steps; a masked step carries the state over.

    Returns
    -------
    states : array (batch, time, 2 units)
    activations : array (batch, time, 4 units)
        The gates after their nonlinearities.
    """
    n = W_hid.shape[0]

    def step(state, inputs):
        projection, real = inputs
        gates = projection + state[:, :n] @ W_hid
        act = jnp.concatenate([jax.nn.sigmoid(gates[:, :2 * n]), jnp.tanh(gates[:, 2 * n:3 * n]),
                               jax.nn.sigmoid(gates[:, 3 * n:])], axis=1)
        cell = act[:, n:2 * n] * state[:, n:] + act[:, :n] * act[:, 2 * n:3 * n]
        new_state = jnp.concatenate([act[:, 3 * n:] * jnp.tanh(cell), cell], axis=1)
        state = jnp.where(real[:, None] != 0, new_state, state)
        return state, (state, act)

    _, (states, activations) = lax.scan(step, state0, _time_major(projections, mask))
    return _time_major(states, activations)


def lstm_sequence_grad(W_hid, state0, mask, states, activations, d_states, grad_clipping):
    """:class:`~lasagne_seq2seq.nn.ops.fused_lstm.LSTMSequenceGrad`, a reverse ``lax.scan``.

    Returns
    -------
    d_projections : array (batch, time, 4 units)
    d_W_hid : array (units, 4 units)
    d_state0 : array (batch, 2 units)
    """
    n = W_hid.shape[0]
    previous = jnp.concatenate([state0[:, None], states[:, :-1]], axis=1)

    def step(carry, inputs):
        before, state, act, d_state, real = inputs
        total = d_state + carry
        i, f, c, o = jnp.split(act, 4, axis=1)
        dh, tc = total[:, :n], jnp.tanh(state[:, n:])
        dc = total[:, n:] + dh * o * (1 - tc * tc)
        d = jnp.concatenate([dc * c * i * (1 - i), dc * before[:, n:] * f * (1 - f),
                             dc * i * (1 - c * c), dh * tc * o * (1 - o)], axis=1)
        real = real[:, None] != 0
        d = jnp.where(real, d, 0)
        carry = jnp.where(real, jnp.concatenate([jnp.zeros_like(dc), dc * f], axis=1), total)
        carry = carry.at[:, :n].add(_clip(d, grad_clipping) @ W_hid.T)
        return carry, d

    d_state0, d_projections = lax.scan(
        step, jnp.zeros_like(state0),
        _time_major(previous, states, activations, d_states, mask), reverse=True)
    d_projections, = _time_major(d_projections)
    d_W_hid = jnp.einsum("bti,btg->ig", previous[:, :, :n], _clip(d_projections, grad_clipping))
    return d_projections, d_W_hid, d_state0


def linear_softmax_cross_entropy(x, W, b, targets, word_rows):
    """:class:`~lasagne_seq2seq.nn.ops.crossentropy.LinearSoftmaxCrossEntropy`: ``(nll, p)``.

    ``p`` is ``softmax - onehot(targets)``, for the gradient.
    """
    logits = x @ (W.T if word_rows else W) + b
    top = logits.max(axis=1, keepdims=True)
    exps = jnp.exp(logits - top)
    sums = exps.sum(axis=1)
    rows = jnp.arange(targets.shape[0])
    p = (exps / sums[:, None]).at[rows, targets].add(-1)
    return jnp.log(sums) + top[:, 0] - logits[rows, targets], p


def linear_softmax_cross_entropy_grad(g, p, x, W, word_rows):
    """:class:`~lasagne_seq2seq.nn.ops.crossentropy.LinearSoftmaxCrossEntropyGrad`: ``(dx, dWb)``."""
    scaled = jnp.concatenate([x * g[:, None], g[:, None]], axis=1)
    dx = (p @ (W if word_rows else W.T)) * g[:, None]
    return dx, (p.T @ scaled if word_rows else scaled.T @ p)


def log_softmax(x, b):
    """:class:`~lasagne_seq2seq.nn.ops.crossentropy.LogSoftmax`: ``log softmax(x + b)`` by row."""
    return jax.nn.log_softmax(x + b, axis=1)
