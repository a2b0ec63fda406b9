"""What every encoder-decoder network shares.

:class:`EncoderDecoder` holds the inputs, embeddings, the encoder stack, the
output layer, the loss with its norm-stabiliser term, compiled functions and
parameters by name; :class:`~lasagne_seq2seq.models.seq2seq.Seq2Seq` and
:class:`~lasagne_seq2seq.models.attention.AttentionSeq2Seq` add their decoders.

Every network exposes three Theano graphs: the training loss
(:meth:`EncoderDecoder.loss_terms`), the encoder (:meth:`EncoderDecoder.encode`)
and one decoder step (``step``). Every decoding strategy runs on the compiled
encoder and step functions, so decoding never re-runs a prefix. The encoder
can start from a *memory*, the previous exchange's final encoder states
(:meth:`EncoderDecoder.compile_memory_encoder`), for multi-turn dialogue.
"""
from collections import OrderedDict, namedtuple
import numpy as np
import theano
import theano.tensor as T
import lasagne
from lasagne.layers import (ConcatLayer, DenseLayer, DropoutLayer, EmbeddingLayer,
                            InputLayer, ReshapeLayer, SliceLayer, get_all_params, get_output)
from lasagne_seq2seq.backend.modes import compile_mode
from lasagne_seq2seq.nn.cells import CELLS
from lasagne_seq2seq.nn.ops.crossentropy import (linear_softmax_cross_entropy, log_softmax,
                                                  scored_rows)
from lasagne_seq2seq.nn.ops import streams  # noqa: F401  (dropout's draws: its faster C loop)
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.nn.layers import (LastStepLayer,
    StateSliceLayer,
    TiedOutputLayer,
    WordDropoutLayer,
    norm_stabilizer)
from lasagne_seq2seq.nn.sampled_softmax import sampled_softmax_losses
from lasagne_seq2seq.data.vocab import UNK_ID


#: What :meth:`EncoderDecoder.loss_terms` returns: the summed cross-entropy,
#: the regulariser to add to the per-token mean loss (0 when off), and the
#: encoder's final states (the next exchange's memory).
LossTerms = namedtuple("LossTerms", ["loss", "penalty", "new_memory"])


class EncoderDecoder(object):
    """What every encoder-decoder network shares; subclasses build the decoder.

    The constructor builds the inputs, embeddings and the encoder stack
    (optionally bidirectional); a subclass then sets ``decoder_layers``,
    ``state_size`` and the decoder's top layer, calls :meth:`_build_output`,
    and implements :meth:`_decoder_start`, :meth:`step` and
    :meth:`_decoder_hidden`.

    Parameters
    ----------
    config : ModelConfig
        Architecture, cell, sizes, depth, dropout, regularisers.
    vocab_size : int
        Rows of the embedding and columns of the softmax.
    embedding_matrix : numpy array, optional
        ``(vocab_size, embedding_size)`` initial embeddings (pretrained).
    bidirectional : bool
        Run a backwards layer beside every encoder layer.

    Attributes
    ----------
    params : list of shared variables
        Every parameter, encoder included (trainable or not).
    encoder_params : list of shared variables
        The encoder's parameters (embeddings included), for warm starts.
    memory_size : int
        Width of the memory: every encoder layer's final state side by side.
    """

    def __init__(self, config, vocab_size, embedding_matrix=None, bidirectional=False):
        if config.cell not in CELLS:
            raise Seq2SeqError("unknown cell %r: choose one of %s" % (config.cell, ", ".join(CELLS)))
        self.config = config
        self.vocab_size = vocab_size
        self.cell = CELLS[config.cell]
        E = config.embedding_size
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
        tgt_ids = self.l_tgt
        if config.word_dropout > 0:
            tgt_ids = WordDropoutLayer(tgt_ids, p=config.word_dropout, replacement=UNK_ID)
        self.l_tgt_embed = EmbeddingLayer(tgt_ids, vocab_size, E, W=tgt_embedding_init,
                                          name="target_embedding")
        self._build_encoder(bidirectional)

    def _dropout(self, layer):
        p = self.config.dropout
        return DropoutLayer(layer, p=p) if p > 0 else layer

    def _build_encoder(self, bidirectional):
        """The encoder stack; every layer starts from its slice of the memory."""
        H = self.config.hidden_size
        directions = (False, True) if bidirectional else (False,)
        state_size = self.cell.state_blocks * H
        self.memory_size = self.config.encoder_depth * len(directions) * state_size
        self.l_memory = InputLayer((None, self.memory_size), name="memory")
        self.encoder_layers, self.encoder_finals = [], []
        below = self._dropout(self.l_src_embed)
        for depth in range(self.config.encoder_depth):
            outputs = []
            for backwards in directions:
                k = len(self.encoder_layers)
                start = SliceLayer(self.l_memory, slice(k * state_size, (k + 1) * state_size),
                                   axis=1)
                name = "encoder%d%s" % (depth, "_backward" if backwards else "")
                layer = self.cell(below, H, mask_input=self.l_src_mask, return_state=True,
                                  state_init=start, backwards=backwards, name=name,
                                  **self._rnn_options)
                self.encoder_layers.append(layer)
                self.encoder_finals.append(LastStepLayer(layer, backwards=backwards,
                                                         name="thought%d" % k))
                outputs.append(StateSliceLayer(layer))
            top = outputs[0] if len(outputs) == 1 else ConcatLayer(outputs, axis=2)
            below = self._dropout(top)
        self.l_encoder_top = top  # the top layer's hidden states, (batch, time, units)
        self.l_thought = self.encoder_finals[-1]

    def _build_output(self, below, width):
        """Vocabulary logits from the decoder's ``(batch, time, width)`` output."""
        E = self.config.embedding_size
        below = ReshapeLayer(below, (-1, width))
        self.l_projection = None
        if self.config.tie_embeddings:
            if width != E:  # bring the decoder's output down to the embedding size
                self.l_projection = DenseLayer(below, E, nonlinearity=None,
                                               name="output_projection")
                below = self.l_projection
            self.l_logits = TiedOutputLayer(below, self.l_tgt_embed, name="output")
        else:
            self.l_logits = DenseLayer(below, self.vocab_size, nonlinearity=None, name="output")
        self.params = get_all_params(self.l_logits)
        encoder_layers = [self.l_src_embed] + self.encoder_layers
        self.encoder_params = [p for layer in encoder_layers for p in layer.get_params()]

    def _log_probs_from_output(self, output):
        """Log-probabilities of the next word from one step's decoder output ``(n, width)``."""
        if self.l_projection is not None:
            output = T.dot(output, self.l_projection.W) + self.l_projection.b
        return log_softmax(T.dot(output, self.l_logits.W), self.l_logits.b)

    # ----------------------------------------------------------- graphs
    def _encoder_inputs(self, src, src_mask, memory):
        if memory is None:
            memory = T.zeros((src.shape[0], self.memory_size), dtype=theano.config.floatX)
        return {self.l_src: src, self.l_src_mask: src_mask, self.l_memory: memory}

    def encoder_outputs(self, src, src_mask, deterministic, n_src_steps=None, memory=None):
        """What the decoder reads from the encoder.

        Parameters
        ----------
        src : int matrix ``(batch, time)``
        src_mask : float matrix ``(batch, time)``
        deterministic : bool
            True turns dropout off.
        n_src_steps : int, optional
            Unroll the encoder loop to this many steps (fixed shapes).
        memory : matrix ``(batch, memory_size)``, optional
            Initial encoder states (zeros when omitted).

        Returns
        -------
        OrderedDict
            Layer to expression: every encoder layer's final state, bottom
            first, then the top layer's hidden states.
        """
        layers = self.encoder_finals + [self.l_encoder_top]
        values = get_output(layers, self._encoder_inputs(src, src_mask, memory),
                            deterministic=deterministic, n_steps=n_src_steps)
        return OrderedDict(zip(layers, values))

    def _new_memory(self, encoded):
        return T.concatenate([encoded[layer] for layer in self.encoder_finals], axis=1)

    def _decoder_hidden(self, output):
        """The top decoder layer's hidden states from its output sequence."""
        return output

    def loss_terms(self, src, src_mask, tgt_in, tgt_out, tgt_mask, deterministic=False,
                   n_src_steps=None, n_tgt_steps=None, memory=None, candidates=None):
        """The training loss, its regulariser and the encoder's new memory.

        Padding is masked out of the loss (the original averaged over it).

        Parameters
        ----------
        src, src_mask, tgt_in, tgt_out, tgt_mask : Theano matrices
            A batch as made by :func:`lasagne_seq2seq.data.batches.iterate_batches`.
        deterministic : bool
            True turns dropout off (validation).
        n_src_steps, n_tgt_steps : int, optional
            Unroll the loops to these lengths (fixed shapes).
        memory : Theano matrix ``(batch, memory_size)``, optional
            The encoder's initial states (multi-turn training); zeros when omitted.
        candidates : Theano int vector, optional
            Sampled softmax (training): score each target against these
            words only (:mod:`lasagne_seq2seq.sampled_softmax`); the full
            softmax when omitted.

        Returns
        -------
        LossTerms
            ``loss``: sum over real target tokens of ``-log p(token)``;
            ``penalty``: the norm-stabiliser term to add to the per-token mean
            loss (0 when ``norm_stabilizer`` is 0); ``new_memory``: the
            encoder's final states ``(batch, memory_size)``.
        """
        encoded = self.encoder_outputs(src, src_mask, deterministic, n_src_steps, memory)
        inputs = {self.l_tgt: tgt_in, self.l_tgt_mask: tgt_mask, self.l_src_mask: src_mask}
        inputs.update(encoded)
        features, top = get_output([self.l_logits.input_layer, self.l_decoder_top], inputs,
                                   deterministic=deterministic, n_steps=n_tgt_steps)
        logits = self.l_logits.get_output_for(features)
        # The output layer scores the real target tokens, not the padding.
        rows = scored_rows(tgt_mask.flatten())
        scored, targets = features[rows], tgt_out.flatten()[rows]
        if candidates is None:  # the output layer's products and softmax as one op
            token_losses = linear_softmax_cross_entropy(scored, self.l_logits.W,
                                                        self.l_logits.b, targets)
        else:  # the full logits stay out of the graph unless the penalty reads them
            token_losses = sampled_softmax_losses(scored, self.l_logits.W.T, self.l_logits.b,
                                                  targets, candidates, self.vocab_size)
        loss = T.sum(token_losses * tgt_mask.flatten()[rows])
        return LossTerms(loss, self._penalty(logits, top, tgt_mask), self._new_memory(encoded))

    def _penalty(self, logits, top, tgt_mask):
        beta, which = self.config.norm_stabilizer, self.config.norm_stabilize
        if not beta:
            return T.constant(0.0, dtype=theano.config.floatX)
        sequences = []
        if which in ("hidden", "both"):
            sequences.append(self._decoder_hidden(top))
        if which in ("logits", "both"):
            sequences.append(logits.reshape((tgt_mask.shape[0], tgt_mask.shape[1], -1)))
        return beta * sum(norm_stabilizer(s, tgt_mask) for s in sequences)

    def loss(self, src, src_mask, tgt_in, tgt_out, tgt_mask, deterministic=False,
             n_src_steps=None, n_tgt_steps=None):
        """Summed cross-entropy of the targets under teacher forcing
        (:meth:`loss_terms` without the regulariser and memory).

        Returns
        -------
        Theano scalar
            Sum over real target tokens of ``-log p(token)``.
        """
        return self.loss_terms(src, src_mask, tgt_in, tgt_out, tgt_mask, deterministic,
                               n_src_steps, n_tgt_steps).loss

    def encode(self, src, src_mask, memory=None):
        """The decoder's starting point for a batch of sources.

        Parameters
        ----------
        src, src_mask : Theano matrices
        memory : Theano matrix, optional
            The encoder's initial states (zeros when omitted).

        Returns
        -------
        list of Theano expressions
            ``[state, *extras, new_memory]``: the decoder's initial state,
            what its step reads besides the state (every entry with the batch
            on its first axis, so decoders can repeat and reorder them), and
            the encoder's final states.
        """
        encoded = self.encoder_outputs(src, src_mask, deterministic=True, memory=memory)
        return self._decoder_start(encoded, src, src_mask) + [self._new_memory(encoded)]

    def _decoder_start(self, encoded, src, src_mask):
        """``[state, *extras]`` from the encoder's outputs (see :meth:`encode`)."""
        raise NotImplementedError

    def step(self, prev_tokens, state, *extras):
        """One decoder step: ``[log_probs (n, vocab_size), new_state, ...]``."""
        raise NotImplementedError

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
        encoded = self.encode(src, src_mask)[:-1]
        encode_fn = theano.function([src, src_mask], encoded, name="encode", mode=compile_mode())
        previous = T.ivector("previous")
        state_and_extras = [value.type("encoded%d" % i) for i, value in enumerate(encoded)]
        step_fn = theano.function([previous] + state_and_extras,
                                  self.step(previous, *state_and_extras),
                                  name="decode_step", on_unused_input="ignore",
                                  mode=compile_mode())
        return encode_fn, step_fn

    def compile_memory_encoder(self):
        """Compile the encoder that starts from (and returns) a memory.

        Returns
        -------
        callable
            ``fn(src, src_mask, memory) -> [state, *extras, new_memory]``:
            ``memory`` ``(batch, memory_size)`` holds the previous exchange's
            final encoder states (zeros: none), ``new_memory`` this one's.
        """
        src, src_mask, memory = T.imatrix("source"), T.matrix("source_mask"), T.matrix("memory")
        return theano.function([src, src_mask, memory], self.encode(src, src_mask, memory),
                               name="encode_with_memory", on_unused_input="ignore",
                               mode=compile_mode())

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
