"""Attention seq2seq (seed 004's AttentionSeq2Seq), ``--model attention``.

* The encoder is bidirectional by default (a forward and a backward layer
  of the chosen cell at every depth, their hidden states side by side); its
  top layer's states are the *memory* the decoder attends to.
* The first decoder layer is an
  :class:`~lasagne_seq2seq.nn.attention.AttentionDecoderLayer`.
* :class:`AttentionSeq2Seq` has the interface of
  :class:`~lasagne_seq2seq.models.base.EncoderDecoder`; the decoder starts
  from a tanh bridge of the encoder's final states (Bahdanau's ``s_0``), and
  the step function also returns the attention weights,
  ``(n, source_length)``, for heat maps.
"""
import theano.tensor as T
from lasagne import nonlinearities
from lasagne.layers import ConcatLayer, DenseLayer
from lasagne_seq2seq.models.base import EncoderDecoder
from lasagne_seq2seq.nn.attention import AttentionDecoderLayer


class AttentionSeq2Seq(EncoderDecoder):
    """Encoder-decoder with attention (``--model attention``).

    The first decoder layer is an :class:`AttentionDecoderLayer`; deeper
    decoder layers are plain cells stacked on its ``[h, context]`` output.
    ``config.bidirectional`` (default True) doubles the encoder,
    ``config.attention_score`` picks the score and ``config.attention_size``
    the additive score's width (0: ``hidden_size``).

    Parameters
    ----------
    config : ModelConfig
    vocab_size : int
    embedding_matrix : numpy array, optional

    Examples
    --------
    >>> from lasagne_seq2seq.config import ModelConfig
    >>> net = AttentionSeq2Seq(ModelConfig(model="attention", hidden_size=8,
    ...                                    embedding_size=4), 20)
    >>> net.memory_size, net.state_size
    (32, 16)
    """

    def __init__(self, config, vocab_size, embedding_matrix=None):
        super(AttentionSeq2Seq, self).__init__(config, vocab_size, embedding_matrix,
                                               bidirectional=config.bidirectional)
        H = config.hidden_size
        summary = ConcatLayer(self.encoder_finals, axis=1, name="encoder_summary")
        self.bridges = [DenseLayer(summary, self.cell.state_blocks * H,
                                   nonlinearity=nonlinearities.tanh, name="bridge%d" % depth)
                        for depth in range(config.decoder_depth)]
        self.l_attention = AttentionDecoderLayer(
            self._dropout(self.l_tgt_embed), self.l_encoder_top, self.l_src_mask, self.cell, H,
            mask_input=self.l_tgt_mask, state_init=self.bridges[0], score=config.attention_score,
            attention_units=config.attention_size or None, grad_clipping=config.grad_clipping,
            name="decoder0")
        self.decoder_layers = [self.l_attention]
        below = self._dropout(self.l_attention)
        for depth in range(1, config.decoder_depth):
            layer = self.cell(below, H, mask_input=self.l_tgt_mask, state_init=self.bridges[depth],
                              name="decoder%d" % depth, **self._rnn_options)
            self.decoder_layers.append(layer)
            below = self._dropout(layer)
        self.l_decoder_top = self.decoder_layers[-1]
        self.state_size = self.l_attention.state_size
        self._build_output(below, self.l_decoder_top.output_shape[-1])

    def _decoder_hidden(self, output):
        return output[:, :, :self.config.hidden_size]

    def _decoder_start(self, encoded, src, src_mask):
        """``[state, memory, keys, memory_mask]``: the decoder layers' initial
        states side by side, the encoder's top states, their part of the
        attention scores (:meth:`AttentionDecoderLayer.keys`, computed once
        per question rather than at every step) and the source mask."""
        summary = T.concatenate([encoded[layer] for layer in self.encoder_finals], axis=1)
        states = [nonlinearities.tanh(T.dot(summary, bridge.W) + bridge.b)
                  for bridge in self.bridges]
        memory = encoded[self.l_encoder_top]
        return [T.concatenate(states, axis=1), memory, self.l_attention.keys(memory), src_mask]

    def step(self, prev_tokens, state, memory, keys, memory_mask):
        """One decoder step for a batch of hypotheses.

        Parameters
        ----------
        prev_tokens : int vector ``(n,)``
        state : matrix ``(n, decoder_depth * state_size)``
        memory : 3-tensor ``(n, source_time, memory_units)``
        keys : 3-tensor ``(n, source_time, ...)``
            ``AttentionDecoderLayer.keys(memory)``, from the encoder.
        memory_mask : matrix ``(n, source_time)``

        Returns
        -------
        list of Theano expressions
            ``[log_probs (n, vocab_size), new_state, attention_weights (n, source_time)]``.
        """
        size = self.state_size
        attention_state, context, weights = self.l_attention.step_from_input(
            self.l_tgt_embed.W[prev_tokens], state[:, :size], memory, keys, memory_mask)
        new_states = [attention_state]
        below = T.concatenate([self.l_attention.cell.hidden(attention_state), context], axis=1)
        for depth, layer in enumerate(self.decoder_layers[1:], start=1):
            layer_state = layer.step_from_input(below, state[:, depth * size:(depth + 1) * size])
            new_states.append(layer_state)
            below = layer.hidden(layer_state)
        return [self._log_probs_from_output(below), T.concatenate(new_states, axis=1), weights]
