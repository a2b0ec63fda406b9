"""Encoder-decoder networks built from Lasagne layers.

:class:`Seq2Seq` builds the original project's architectures and seed 004's
simple variant from one description (:class:`~lasagne_seq2seq.config.ModelConfig`):

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

The network exposes three Theano graphs: the training loss
(:meth:`Seq2Seq.loss`), the encoder (:meth:`Seq2Seq.encode`) and one decoder
step (:meth:`Seq2Seq.step`). Every decoding strategy runs on the compiled
encoder and step functions, so decoding never re-runs a prefix.
"""
from collections import OrderedDict

import numpy as np

from . import compat  # noqa: F401  (before Theano)
import theano
import theano.tensor as T
import lasagne
from lasagne.layers import (DenseLayer, DropoutLayer, EmbeddingLayer, InputLayer,
                            ReshapeLayer, get_all_params, get_output)

from .config import MODELS
from .errors import Seq2SeqError
from .layers import CELLS, LastStepLayer, StateSliceLayer, TiedOutputLayer

__all__ = ["Seq2Seq", "build_network"]


def build_network(config, vocab_size, embedding_matrix=None):
    """The network that ``config.model`` names (see :data:`~lasagne_seq2seq.config.MODELS`).

    Parameters
    ----------
    config : ModelConfig
    vocab_size : int
    embedding_matrix : numpy array, optional

    Returns
    -------
    Seq2Seq or another network with the same interface (``loss``,
    ``compile_decoder``, ``params``, ``encoder_params``, ``param_values``,
    ``set_param_values``).
    """
    return Seq2Seq(config, vocab_size, embedding_matrix)


class Seq2Seq(object):
    """An encoder-decoder network.

    Parameters
    ----------
    config : ModelConfig
        Architecture, cell, sizes, depth, dropout.
    vocab_size : int
        Rows of the embedding and columns of the softmax.
    embedding_matrix : numpy array, optional
        ``(vocab_size, embedding_size)`` initial embeddings (pretrained).

    Attributes
    ----------
    params : list of shared variables
        Every parameter, encoder included (trainable or not).
    encoder_params : list of shared variables
        The encoder's parameters (embeddings included), for warm starts.

    Examples
    --------
    >>> from lasagne_seq2seq.config import ModelConfig
    >>> net = Seq2Seq(ModelConfig(model="v2", hidden_size=8, embedding_size=4), 20)
    >>> sorted(p.name for p in net.encoder_params)[:2]
    ['encoder0.W_hid', 'encoder0.W_in']
    """

    def __init__(self, config, vocab_size, embedding_matrix=None):
        if config.model not in MODELS:
            raise Seq2SeqError("unknown model %r: choose one of %s" % (config.model, ", ".join(MODELS)))
        if config.cell not in CELLS:
            raise Seq2SeqError("unknown cell %r: choose one of %s" % (config.cell, ", ".join(CELLS)))
        self.config = config
        self.vocab_size = vocab_size
        self.uses_state = MODELS[config.model]["state"]
        self.uses_peek = MODELS[config.model]["peek"]
        cell = CELLS[config.cell]
        E, H = config.embedding_size, config.hidden_size
        self._rnn_options = dict(grad_clipping=config.grad_clipping)

        # Inputs: token ids and masks, (batch, time).
        self.l_src = InputLayer((None, None), name="source")
        self.l_src_mask = InputLayer((None, None), name="source_mask")
        self.l_tgt = InputLayer((None, None), name="target_in")
        self.l_tgt_mask = InputLayer((None, None), name="target_mask")

        if embedding_matrix is not None and embedding_matrix.shape != (vocab_size, E):
            raise Seq2SeqError("embedding matrix has shape %s, the model needs (%d, %d)"
                               % (embedding_matrix.shape, vocab_size, E))
        embedding_init = (lasagne.init.Normal(0.1) if embedding_matrix is None
                          else np.asarray(embedding_matrix, dtype=theano.config.floatX))
        self.l_src_embed = EmbeddingLayer(self.l_src, vocab_size, E, W=embedding_init,
                                          name="source_embedding")
        tgt_embedding_init = self.l_src_embed.W if config.share_embeddings else embedding_init
        self.l_tgt_embed = EmbeddingLayer(self.l_tgt, vocab_size, E, W=tgt_embedding_init,
                                          name="target_embedding")

        # Encoder stack; each layer returns its state sequence.
        self.encoder_layers, self.encoder_finals = [], []
        below = self._dropout(self.l_src_embed)
        for depth in range(config.encoder_depth):
            layer = cell(below, H, mask_input=self.l_src_mask, return_state=True,
                         name="encoder%d" % depth, **self._rnn_options)
            self.encoder_layers.append(layer)
            self.encoder_finals.append(LastStepLayer(layer, name="thought%d" % depth))
            below = self._dropout(StateSliceLayer(layer))
        self.l_thought = self.encoder_finals[-1]

        # Decoder stack, started from (and/or fed with) the thought vector.
        self.decoder_layers = []
        below = self._dropout(self.l_tgt_embed)
        for depth in range(config.decoder_depth):
            layer = cell(below, H, mask_input=self.l_tgt_mask,
                         state_init=self._decoder_init_layer(depth),
                         context=self.l_thought if (self.uses_peek and depth == 0) else None,
                         name="decoder%d" % depth, **self._rnn_options)
            self.decoder_layers.append(layer)
            below = self._dropout(layer)
        below = ReshapeLayer(below, (-1, H))
        self.l_projection = None
        if config.tie_embeddings:
            if H != E:  # bring the decoder's output down to the embedding size
                self.l_projection = DenseLayer(below, E, nonlinearity=None,
                                               name="output_projection")
                below = self.l_projection
            self.l_logits = TiedOutputLayer(below, self.l_tgt_embed, name="output")
        else:
            self.l_logits = DenseLayer(below, vocab_size, nonlinearity=None, name="output")

        self.params = get_all_params(self.l_logits)
        encoder_layers = [self.l_src_embed] + self.encoder_layers
        self.encoder_params = [p for layer in encoder_layers for p in layer.get_params()]
        self.state_size = self.decoder_layers[0].state_size

    def _dropout(self, layer):
        p = self.config.dropout
        return DropoutLayer(layer, p=p) if p > 0 else layer

    def _decoder_init_layer(self, depth):
        if not self.uses_state:
            return None
        if len(self.encoder_finals) == self.config.decoder_depth:
            return self.encoder_finals[depth]
        return self.l_thought  # broadcast the top layer's final state

    # ----------------------------------------------------------- graphs
    def encoder_outputs(self, src, src_mask, deterministic, n_src_steps=None):
        """Final states of every encoder layer.

        Parameters
        ----------
        src : int matrix ``(batch, time)``
        src_mask : float matrix ``(batch, time)``
        deterministic : bool
            True turns dropout off.
        n_src_steps : int, optional
            Unroll the encoder loop to this many steps (fixed shapes).

        Returns
        -------
        list of Theano expressions
            ``(batch, state_size)`` per encoder layer, bottom first.
        """
        return get_output(self.encoder_finals, {self.l_src: src, self.l_src_mask: src_mask},
                          deterministic=deterministic, n_steps=n_src_steps)

    def loss(self, src, src_mask, tgt_in, tgt_out, tgt_mask, deterministic=False,
             n_src_steps=None, n_tgt_steps=None):
        """Summed cross-entropy of the targets under teacher forcing.

        Padding is masked out of the loss (the original averaged over it).

        Parameters
        ----------
        src, src_mask, tgt_in, tgt_out, tgt_mask : Theano matrices
            A batch as made by :func:`lasagne_seq2seq.data.iterate_batches`.
        deterministic : bool
            True turns dropout off (validation).
        n_src_steps, n_tgt_steps : int, optional
            Unroll the loops to these lengths (fixed shapes).

        Returns
        -------
        Theano scalar
            Sum over real target tokens of ``-log p(token)``.
        """
        finals = self.encoder_outputs(src, src_mask, deterministic, n_src_steps)
        inputs = {self.l_tgt: tgt_in, self.l_tgt_mask: tgt_mask}
        inputs.update(zip(self.encoder_finals, finals))
        logits = get_output(self.l_logits, inputs, deterministic=deterministic,
                            n_steps=n_tgt_steps)
        token_losses = T.nnet.categorical_crossentropy(T.nnet.softmax(logits), tgt_out.flatten())
        return T.sum(token_losses * tgt_mask.flatten())

    def encode(self, src, src_mask):
        """The decoder's starting point for a batch of sources.

        Returns
        -------
        list of Theano expressions
            ``[state, context]``: every decoder layer's initial state side by
            side, ``(batch, decoder_depth * state_size)``, then the thought
            vector fed at every step, ``(batch, state_size)`` (always
            returned; models without peek ignore it). Every entry has the
            batch on its first axis, so decoders can repeat and reorder them.
        """
        finals = self.encoder_outputs(src, src_mask, deterministic=True)
        states = []
        for depth in range(self.config.decoder_depth):
            init_layer = self._decoder_init_layer(depth)
            if init_layer is None:
                states.append(T.zeros((src.shape[0], self.state_size), dtype=theano.config.floatX))
            else:
                states.append(finals[self.encoder_finals.index(init_layer)])
        return [T.concatenate(states, axis=1), finals[-1]]

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
        if self.l_projection is not None:
            below = T.dot(below, self.l_projection.W) + self.l_projection.b
        logits = T.dot(below, self.l_logits.W) + self.l_logits.b
        return [T.nnet.logsoftmax(logits), T.concatenate(new_states, axis=1)]

    # ------------------------------------------------------- functions
    def compile_decoder(self):
        """Compile the encoder and one decoder step.

        Returns
        -------
        encode_fn : callable
            ``encode_fn(src, src_mask) -> [state, *extras]``.
        step_fn : callable
            ``step_fn(prev_tokens, state, *extras) -> [log_probs, new_state, ...]``.
            Every network has this contract; decoders treat ``extras`` as
            opaque arrays with the batch on axis 0.
        """
        src, src_mask = T.imatrix("source"), T.matrix("source_mask")
        encoded = self.encode(src, src_mask)
        encode_fn = theano.function([src, src_mask], encoded, name="encode")
        previous = T.ivector("previous")
        state_and_extras = [value.type("encoded%d" % i) for i, value in enumerate(encoded)]
        step_fn = theano.function([previous] + state_and_extras,
                                  self.step(previous, *state_and_extras),
                                  name="decode_step", on_unused_input="ignore")
        return encode_fn, step_fn

    # ---------------------------------------------------- parameters
    def param_values(self):
        """Parameter values by unique name (for checkpoints)."""
        return OrderedDict((p.name, p.get_value()) for p in self.params)

    def set_param_values(self, values, source="checkpoint", only=None):
        """Load parameter values by name, checking names and shapes.

        Parameters
        ----------
        values : mapping of str to array
        source : str
            The file the values came from, for error messages.
        only : list of shared variables, optional
            Load just these parameters (e.g. the encoder for a warm start).
        """
        for param in (self.params if only is None else only):
            if param.name not in values:
                raise Seq2SeqError("%s has no parameter %s: it was saved from a different "
                                   "architecture; check its config.json" % (source, param.name))
            value = values[param.name]
            if value.shape != param.get_value(borrow=True).shape:
                raise Seq2SeqError(
                    "%s: parameter %s has shape %s but this model needs %s (vocabulary or "
                    "size mismatch): load it with its own config.json and vocab.json"
                    % (source, param.name, value.shape, param.get_value(borrow=True).shape))
            param.set_value(np.asarray(value, dtype=param.dtype))
