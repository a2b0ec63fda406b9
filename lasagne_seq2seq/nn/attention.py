"""The attention decoder layer (seed 004's AttentionSeq2Seq decoder).

:class:`AttentionDecoderLayer` wraps any cell: at step ``t`` it scores every
memory position against the previous hidden state, additive (Bahdanau et al.
2015, ``v . tanh(m W_m + h W_q)``) or Luong et al.'s (2015) general score
(``h W_s . m``), takes the masked softmax as weights (:func:`masked_softmax`),
and feeds the weighted mean of the memory (the context) into the cell's step.
Its output is ``[h_t, context_t]``, so the softmax layer sees the context too.
"""
import theano
import theano.tensor as T
from lasagne import init
from lasagne.layers import InputLayer, MergeLayer
from lasagne.utils import unroll_scan


def masked_softmax(scores, mask):
    """Softmax over axis 1 of ``scores`` ``(batch, positions)``, zero where ``mask`` is 0.

    Examples
    --------
    >>> import numpy as np
    >>> s, m = T.matrix(), T.matrix()
    >>> f = theano.function([s, m], masked_softmax(s, m))
    >>> f(np.array([[0, 0, 5]], "float32"), np.array([[1, 1, 0]], "float32")).tolist()
    [[0.5, 0.5, 0.0]]
    """
    scores = scores - T.max(scores, axis=1, keepdims=True)
    weights = T.exp(scores) * mask
    return weights / T.maximum(T.sum(weights, axis=1, keepdims=True), 1e-8)


class AttentionDecoderLayer(MergeLayer):
    """A recurrent decoder that attends to a memory at every step.

    Parameters
    ----------
    incoming : Layer
        ``(batch, time, features)`` decoder inputs (embedded previous tokens).
    memory : Layer
        ``(batch, source_time, memory_units)`` encoder states to attend to.
    memory_mask : Layer
        ``(batch, source_time)`` 1 for real source positions.
    cell : RecurrentLayer subclass
        The recurrent cell (LSTM, GRU, the mutants, IRNN).
    num_units : int
        The cell's units.
    mask_input : Layer, optional
        ``(batch, time)`` target mask; padded steps keep the state.
    state_init : Layer, optional
        ``(batch, state_size)`` initial state (zeros when omitted).
    score : {"additive", "general"}
        Bahdanau's additive score or Luong's general (bilinear) score.
    attention_units : int
        Width of the additive score's hidden layer (ignored by "general").
    grad_clipping : float
        The cell's recurrent gradient clipping.

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> from lasagne_seq2seq.layers import GRULayer
    >>> layer = AttentionDecoderLayer(InputLayer((None, None, 4)), InputLayer((None, None, 6)),
    ...                               InputLayer((None, None)), GRULayer, 5, name="dec")
    >>> layer.output_shape, sorted(p.name for p in layer.get_params())[:3]
    ((None, None, 11), ['dec.W_ctx', 'dec.W_hid', 'dec.W_in'])
    """

    def __init__(self, incoming, memory, memory_mask, cell, num_units, mask_input=None,
                 state_init=None, score="additive", attention_units=None, grad_clipping=0.0,
                 W=init.GlorotUniform(), **kwargs):
        incomings = [incoming, memory, memory_mask]
        self.mask_index = self.state_init_index = None
        for attribute, extra in (("mask_index", mask_input), ("state_init_index", state_init)):
            if extra is not None:
                setattr(self, attribute, len(incomings))
                incomings.append(extra)
        super(AttentionDecoderLayer, self).__init__(incomings, **kwargs)
        num_inputs = self.input_shapes[0][-1]
        self.memory_units = self.input_shapes[1][-1]
        # The cell owns the recurrent weights; its context is the attention's.
        self.cell = cell(InputLayer((None, None, num_inputs)), num_units,
                         context=InputLayer((None, self.memory_units)),
                         grad_clipping=grad_clipping, name=self.name)
        self.params.update(self.cell.params)
        self.num_units = num_units
        self.state_size = self.cell.state_size
        self.score = score
        if score == "additive":
            units = attention_units or num_units
            self.W_query = self.add_param(W, (num_units, units), name="attention_W_query")
            self.W_memory = self.add_param(W, (self.memory_units, units),
                                           name="attention_W_memory")
            self.v = self.add_param(init.Normal(1.0 / units ** 0.5), (units,), name="attention_v")
        elif score == "general":
            self.W_score = self.add_param(W, (num_units, self.memory_units),
                                          name="attention_W_score")
        else:
            raise ValueError("score must be 'additive' or 'general', got %r" % (score,))

    def keys(self, memory):
        """The memory's part of the scores, computed once per source:
        ``memory W_m`` (additive) or ``memory W_s^T`` (general)."""
        if self.score == "additive":
            return T.dot(memory, self.W_memory)
        return T.dot(memory, self.W_score.T)

    def attend(self, hidden, memory, keys, memory_mask):
        """Attention weights and context for one step.

        Parameters
        ----------
        hidden : ``(batch, num_units)`` the query (previous hidden state)
        memory : ``(batch, source_time, memory_units)``
        keys : ``(batch, source_time, ...)`` from :meth:`keys`
        memory_mask : ``(batch, source_time)``

        Returns
        -------
        context : ``(batch, memory_units)``
        weights : ``(batch, source_time)``
        """
        if self.score == "additive":
            query = T.dot(hidden, self.W_query).dimshuffle(0, "x", 1)
            scores = T.dot(T.tanh(keys + query), self.v)
        else:
            scores = T.sum(keys * hidden.dimshuffle(0, "x", 1), axis=2)
        weights = masked_softmax(scores, memory_mask)
        context = T.sum(memory * weights.dimshuffle(0, 1, "x"), axis=1)
        return context, weights

    def step_projected(self, input_projection, state, memory, keys, memory_mask):
        """One step from the input's projection (input times ``W_in`` plus bias).

        Returns
        -------
        new_state : ``(batch, state_size)``
        context : ``(batch, memory_units)``
        weights : ``(batch, source_time)``
        """
        context, weights = self.attend(self.cell.hidden(state), memory, keys, memory_mask)
        new_state = self.cell.step(input_projection + T.dot(context, self.cell.W_ctx), state)
        return new_state, context, weights

    def step_from_input(self, x, state, memory, keys, memory_mask):
        """One step from a raw input vector ``(batch, features)`` (for decoders)."""
        return self.step_projected(self.cell.input_projection(x), state, memory, keys,
                                   memory_mask)

    def get_output_shape_for(self, input_shapes):
        batch, steps = input_shapes[0][:2]
        return (batch, steps, self.num_units + self.memory_units)

    def get_output_for(self, inputs, n_steps=None, **kwargs):
        """``[h_t, context_t]`` for every step; ``n_steps`` unrolls the loop."""
        x, memory, memory_mask = inputs[:3]
        batch = x.shape[0]
        keys = self.keys(memory)
        projections = self.cell.input_projection(x).dimshuffle(1, 0, 2)
        if self.state_init_index is not None:
            state0 = inputs[self.state_init_index]
        else:
            state0 = T.zeros((batch, self.state_size), dtype=theano.config.floatX)
        context0 = T.zeros((batch, self.memory_units), dtype=theano.config.floatX)
        if self.mask_index is not None:
            mask = inputs[self.mask_index].dimshuffle(1, 0, "x")
        else:
            mask = T.ones((x.shape[1], batch, 1), dtype=theano.config.floatX)

        def step(projection, mask_t, state, context, memory, keys, memory_mask):
            new_state, new_context = self.step_projected(projection, state, memory, keys,
                                                         memory_mask)[:2]
            return [T.switch(mask_t, new_state, state), T.switch(mask_t, new_context, context)]

        sequences, non_sequences = [projections, mask], [memory, keys, memory_mask]
        if n_steps is not None:
            states, contexts = unroll_scan(step, sequences, [state0, context0], non_sequences,
                                           n_steps)
        else:
            states, contexts = theano.scan(step, sequences=sequences,
                                           outputs_info=[state0, context0],
                                           non_sequences=non_sequences, strict=False)[0]
        outputs = T.concatenate([self.cell.hidden(states), contexts], axis=2)
        return outputs.dimshuffle(1, 0, 2)
