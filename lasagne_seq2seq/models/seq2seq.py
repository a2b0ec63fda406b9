"""The original project's architectures and seed 004's simple variant.

:class:`Seq2Seq` builds them from one description
(:class:`~lasagne_seq2seq.config.ModelConfig`):

* **v1**: embedding -> recurrent encoder -> its final state (the *thought
  vector*) initialises the decoder -> softmax over the vocabulary.
* **v2**: as v1, and the thought vector is also added to the decoder's input
  at every step ("feeding", the peek of Cho et al. 2014).
* **simple**: no state transfer; the thought vector is only fed at every step.
* **lm**: the decoder alone, a language model of replies p(T) (its encoder
  is built but unused), for anti-LM decoding.

With depth, decoder layer *j* starts from encoder layer *j*'s final state
when both stacks are equally deep; otherwise the top encoder layer's final
state is broadcast to every decoder layer (seed 004's ``broadcast_state``).
The configuration's ``broadcast_state`` and ``peek`` override the model's
state transfer and feeding; ``word_dropout`` replaces decoder inputs by UNK.
"""
import theano
import theano.tensor as T
from lasagne_seq2seq.models.base import EncoderDecoder


class Seq2Seq(EncoderDecoder):
    """An encoder-decoder network: v1, v2, simple or lm (see the module docstring).

    Parameters
    ----------
    config : ModelConfig
        Architecture, cell, sizes, depth, dropout.
    vocab_size : int
        Rows of the embedding and columns of the softmax.
    embedding_matrix : numpy array, optional
        ``(vocab_size, embedding_size)`` initial embeddings (pretrained).

    Examples
    --------
    >>> from lasagne_seq2seq.config import ModelConfig
    >>> net = Seq2Seq(ModelConfig(model="v2", hidden_size=8, embedding_size=4), 20)
    >>> sorted(p.name for p in net.encoder_params)[:2]
    ['encoder0.W_hid', 'encoder0.W_in']
    >>> net.memory_size
    16
    """
    #: Each architecture's state transfer (the thought vector initialises the
    #: decoder) and peek (it is fed to every decoder step).
    ARCHITECTURES = {
        "v1": dict(state=True, peek=False),      # the original's seq2seq v1
        "v2": dict(state=True, peek=True),       # the original's v2 ("feeding")
        "simple": dict(state=False, peek=True),  # seed 004's SimpleSeq2Seq
        # A language model of replies, p(T): the decoder alone, for anti-LM decoding.
        "lm": dict(state=False, peek=False),
    }

    def __init__(self, config, vocab_size, embedding_matrix=None):
        super(Seq2Seq, self).__init__(config, vocab_size, embedding_matrix)
        architecture = self.ARCHITECTURES[config.model]
        self.uses_state = (architecture["state"] if config.broadcast_state is None
                           else config.broadcast_state)
        self.uses_peek = architecture["peek"] if config.peek is None else config.peek
        H = config.hidden_size

        # Decoder stack, started from (and/or fed with) the thought vector.
        self.decoder_layers = []
        below = self._dropout(self.l_tgt_embed)
        for depth in range(config.decoder_depth):
            layer = self.cell(below, H, mask_input=self.l_tgt_mask,
                              state_init=self._decoder_init_layer(depth),
                              context=self.l_thought if (self.uses_peek and depth == 0) else None,
                              name="decoder%d" % depth, **self._rnn_options)
            self.decoder_layers.append(layer)
            below = self._dropout(layer)
        self.l_decoder_top = self.decoder_layers[-1]
        self._build_output(below, H)
        self.state_size = self.decoder_layers[0].state_size

    def _decoder_init_layer(self, depth):
        if not self.uses_state:
            return None
        if len(self.encoder_finals) == self.config.decoder_depth:
            return self.encoder_finals[depth]
        return self.l_thought  # broadcast the top layer's final state

    def _decoder_start(self, encoded, src, src_mask):
        """``[state, context]``: every decoder layer's initial state side by
        side, ``(batch, decoder_depth * state_size)``, then the thought vector
        fed at every step, ``(batch, state_size)`` (always returned; models
        without peek ignore it)."""
        states = []
        for depth in range(self.config.decoder_depth):
            init_layer = self._decoder_init_layer(depth)
            if init_layer is None:
                states.append(T.zeros((src.shape[0], self.state_size), dtype=theano.config.floatX))
            else:
                states.append(encoded[init_layer])
        return [T.concatenate(states, axis=1), encoded[self.l_thought]]

    def step(self, prev_tokens, state, context):
        """One decoder step for a batch of hypotheses.

        Parameters
        ----------
        prev_tokens : int vector ``(n,)``
            The previous token of each hypothesis (START at the first step).
        state : matrix ``(n, decoder_depth * state_size)``
        context : matrix ``(n, state_size)``
            The thought vector (used by models with peek).

        Returns
        -------
        list of Theano expressions
            ``[log_probs (n, vocab_size), new_state]``.
        """
        below = self.l_tgt_embed.W[prev_tokens]
        new_states = []
        for depth, layer in enumerate(self.decoder_layers):
            layer_state = state[:, depth * self.state_size:(depth + 1) * self.state_size]
            peek = context if (self.uses_peek and depth == 0) else None
            layer_state = layer.step_from_input(below, layer_state, peek)
            new_states.append(layer_state)
            below = layer.hidden(layer_state)
        return [self._log_probs_from_output(below), T.concatenate(new_states, axis=1)]
