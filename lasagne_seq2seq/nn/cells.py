"""The recurrent cells, and :data:`CELLS`, the registry of ``--cell`` names.

* :class:`LSTMLayer`: long short-term memory, its state ``[h, c]`` side by
  side; on the CPU in float32 the whole sequence runs as one fused C op
  (:mod:`lasagne_seq2seq.nn.ops.fused_lstm`).
* :class:`GRULayer`: the gated recurrent unit, state ``h``.
* :class:`JZS1Layer`, :class:`JZS2Layer`, :class:`JZS3Layer`: the three
  architectures that Jozefowicz, Zaremba & Sutskever (2015) found by
  evolutionary search, "An Empirical Exploration of Recurrent Network
  Architectures" (MUT1-3 in the paper). The paper adds the raw input ``x``
  in places, which needs the input as wide as the state; here that term is
  one more block of the input projection, so any embedding size works.
* :class:`IRNNLayer`: a ReLU RNN with identity-initialised recurrent weights
  and zero biases (Le, Jaitly & Hinton 2015).

The GRU and its mutants share one update convention, that of Jozefowicz et
al. and Lasagne: ``h' = z * candidate + (1 - z) * h``.

All are :class:`~lasagne_seq2seq.nn.recurrent.RecurrentLayer` subclasses:
masks, initial states, per-step context, unrolling and one-step decoding come
from the base class.
"""
import numpy as np
import theano
import theano.tensor as T
from lasagne import init
from lasagne_seq2seq.nn.ops.fused_lstm import lstm_sequence
from lasagne_seq2seq.nn.recurrent import RecurrentLayer


class LSTMLayer(RecurrentLayer):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), no peepholes.

    Gates are ordered input, forget, cell, output; the state is ``[h, c]``.
    The forget-gate bias starts at 1 so that early gradients flow
    (Jozefowicz et al. 2015). Parameters as for :class:`RecurrentLayer`, and

    fused : bool
        Run the sequence as one C op (:mod:`lasagne_seq2seq.fused_lstm`):
        the same arithmetic; a default-size training step went from 101-104
        to 76-79 ms with it (``bench/README.md``). Used on the CPU with
        float32; the unrolled or scanned steps of
        :meth:`step` otherwise (the GPU, float64, ``fused=False``).

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> LSTMLayer(InputLayer((None, 5, 8)), 16).output_shape
    (None, 5, 16)
    """
    num_gates = 4
    state_blocks = 2

    def __init__(self, incoming, num_units, fused=True, **kwargs):
        super(LSTMLayer, self).__init__(incoming, num_units, **kwargs)
        bias = self.b.get_value()
        bias[num_units:2 * num_units] = 1.0
        self.b.set_value(bias)
        self.fused = fused

    def run(self, projections, state0, mask=None, n_steps=None):
        if not (self.fused and theano.config.device == "cpu"
                and projections.dtype == state0.dtype == self.W_hid.dtype == "float32"):
            return super(LSTMLayer, self).run(projections, state0, mask, n_steps)
        if self.backwards:
            projections = projections[:, ::-1]
            mask = mask[:, ::-1] if mask is not None else None
        return lstm_sequence(projections, self.W_hid, state0, mask, self.grad_clipping)

    def hidden(self, state):
        return state[..., :self.num_units]

    def step(self, input_projection, state):
        n = self.num_units
        h, c = state[:, :n], state[:, n:]
        gates = input_projection + self._recurrent_product(h)
        input_gate = T.nnet.sigmoid(gates[:, :n])
        forget_gate = T.nnet.sigmoid(gates[:, n:2 * n])
        candidate = T.tanh(gates[:, 2 * n:3 * n])
        output_gate = T.nnet.sigmoid(gates[:, 3 * n:])
        c = forget_gate * c + input_gate * candidate
        h = output_gate * T.tanh(c)
        return T.concatenate([h, c], axis=1)


def gated_update(update, candidate, state):
    """``z * candidate + (1 - z) * h``: the update of the GRU and its mutants.

    The update gate ``z`` opens towards the candidate, as in Jozefowicz et al.
    (2015, whose MUT1-3 are written this way), Chung et al. (2014) and
    Lasagne's own ``GRULayer``; Cho et al. (2014) and cuDNN call the same
    gate ``1 - z``.
    """
    return update * candidate + (1.0 - update) * state


class GRULayer(RecurrentLayer):
    """Gated recurrent unit (Cho et al. 2014), reset applied after the product.

    Gates are ordered reset, update, candidate; the update gate opens towards
    the candidate (:func:`gated_update`). Applying the reset gate to
    ``h W_hid`` rather than to ``h`` (as cuDNN does) keeps one recurrent
    matrix product per step. Parameters as for :class:`RecurrentLayer`.

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> GRULayer(InputLayer((None, 5, 8)), 16, only_return_final=True).output_shape
    (None, 16)
    """
    num_gates = 3

    def step(self, input_projection, state):
        n = self.num_units
        recurrent = self._recurrent_product(state)
        reset = T.nnet.sigmoid(input_projection[:, :n] + recurrent[:, :n])
        update = T.nnet.sigmoid(input_projection[:, n:2 * n] + recurrent[:, n:2 * n])
        candidate = T.tanh(input_projection[:, 2 * n:] + reset * recurrent[:, 2 * n:])
        return gated_update(update, candidate, state)


class JZS1Layer(RecurrentLayer):
    """MUT1: the update gate reads only the input.

    .. math::
        z &= \\sigma(x W_{xz} + b_z) \\\\
        r &= \\sigma(x W_{xr} + h W_{hr} + b_r) \\\\
        h' &= z \\tanh((r \\odot h) W_{hh} + \\tanh(x W_{xh} + b_h)) + (1 - z) h

    Input blocks: update, reset, candidate; recurrent blocks: reset, candidate.

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> JZS1Layer(InputLayer((None, 5, 8)), 16).W_hid.get_value().shape
    (16, 32)
    """
    num_gates = 3
    recurrent_gates = 2

    def step(self, input_projection, state):
        n = self.num_units
        update = T.nnet.sigmoid(input_projection[:, :n])
        reset = T.nnet.sigmoid(input_projection[:, n:2 * n] + self._recurrent_product(state, 0, 1))
        candidate = T.tanh(self._recurrent_product(reset * state, 1, 2)
                           + T.tanh(input_projection[:, 2 * n:]))
        return gated_update(update, candidate, state)


class JZS2Layer(RecurrentLayer):
    """MUT2: the reset gate reads the input as it is (here: one projection block).

    .. math::
        z &= \\sigma(x W_{xz} + h W_{hz} + b_z) \\\\
        r &= \\sigma(x P + h W_{hr} + b_r) \\\\
        h' &= z \\tanh((r \\odot h) W_{hh} + x W_{xh} + b_h) + (1 - z) h

    ``x P`` stands for the paper's raw ``x``. Input and recurrent blocks:
    update, reset, candidate.

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> JZS2Layer(InputLayer((None, 5, 8)), 16).W_hid.get_value().shape
    (16, 48)
    """
    num_gates = 3

    def step(self, input_projection, state):
        n = self.num_units
        gates = input_projection[:, :2 * n] + self._recurrent_product(state, 0, 2)
        update = T.nnet.sigmoid(gates[:, :n])
        reset = T.nnet.sigmoid(gates[:, n:])
        candidate = T.tanh(self._recurrent_product(reset * state, 2, 3)
                           + input_projection[:, 2 * n:])
        return gated_update(update, candidate, state)


class JZS3Layer(RecurrentLayer):
    """MUT3: the update gate reads ``tanh(h)``.

    .. math::
        z &= \\sigma(x W_{xz} + \\tanh(h) W_{hz} + b_z) \\\\
        r &= \\sigma(x W_{xr} + h W_{hr} + b_r) \\\\
        h' &= z \\tanh((r \\odot h) W_{hh} + x W_{xh} + b_h) + (1 - z) h

    Input and recurrent blocks: update, reset, candidate.

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> JZS3Layer(InputLayer((None, 5, 8)), 16, only_return_final=True).output_shape
    (None, 16)
    """
    num_gates = 3

    def step(self, input_projection, state):
        n = self.num_units
        update = T.nnet.sigmoid(input_projection[:, :n]
                                + self._recurrent_product(T.tanh(state), 0, 1))
        reset = T.nnet.sigmoid(input_projection[:, n:2 * n]
                               + self._recurrent_product(state, 1, 2))
        candidate = T.tanh(self._recurrent_product(reset * state, 2, 3)
                           + input_projection[:, 2 * n:])
        return gated_update(update, candidate, state)


class Identity(init.Initializer):
    """The identity matrix times ``gain`` (square shapes only).

    Examples
    --------
    >>> Identity(0.5).sample((2, 2)).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def sample(self, shape):
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError("Identity needs a square shape, got %s" % (shape,))
        return (self.gain * np.eye(shape[0])).astype(theano.config.floatX)


class IRNNLayer(RecurrentLayer):
    """ReLU RNN with identity recurrent weights, ``h' = max(0, x W + h U + b)``.

    Le, Jaitly & Hinton (2015): with ``U = I`` and ``b = 0`` the state is
    copied forward until the inputs change it, so gradients neither vanish
    nor explode early in training. Use gradient clipping (``max_grad_norm``)
    as the paper does. Parameters as for :class:`RecurrentLayer`, with
    ``W_hid`` defaulting to :class:`Identity` and ``W_in`` to N(0, 0.001).

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> layer = IRNNLayer(InputLayer((None, 5, 8)), 4)
    >>> bool((layer.W_hid.get_value() == np.eye(4)).all())
    True
    """

    def __init__(self, incoming, num_units, W_hid=Identity(), W_in=init.Normal(0.001),
                 **kwargs):
        super(IRNNLayer, self).__init__(incoming, num_units, W_hid=W_hid, W_in=W_in, **kwargs)

    def step(self, input_projection, state):
        return T.nnet.relu(input_projection + self._recurrent_product(state))


#: Cell name (as given to ``--cell``) to layer class.
CELLS = {"lstm": LSTMLayer, "gru": GRULayer, "jzs1": JZS1Layer, "jzs2": JZS2Layer,
         "jzs3": JZS3Layer, "irnn": IRNNLayer}
