"""Small Lasagne layers the encoder-decoders are built from.

* :class:`StateSliceLayer`: the hidden part ``h`` of a recurrent state;
* :class:`LastStepLayer`: each sequence's last unmasked step;
* :class:`TiedOutputLayer`: the output projection tied to the embeddings;
* :class:`WordDropoutLayer`: decoder input words replaced by ``<unk>``;
* :func:`norm_stabilizer`: the norm-stabiliser penalty (Krueger & Memisevic 2015).
"""
import theano.tensor as T
import lasagne
from lasagne import init


class StateSliceLayer(lasagne.layers.Layer):
    """The hidden part ``h`` of a recurrent layer's state output.

    Parameters
    ----------
    incoming : RecurrentLayer
        A layer built with ``return_state=True``.

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> l_seq = LSTMLayer(InputLayer((None, 5, 8)), 16, return_state=True)
    >>> StateSliceLayer(l_seq).output_shape
    (None, 5, 16)
    """

    def __init__(self, incoming, **kwargs):
        super(StateSliceLayer, self).__init__(incoming, **kwargs)
        self.recurrent = incoming

    def get_output_shape_for(self, input_shape):
        return input_shape[:-1] + (self.recurrent.num_units,)

    def get_output_for(self, input, **kwargs):
        return self.recurrent.hidden(input)


class LastStepLayer(lasagne.layers.Layer):
    """The step a recurrent layer processed last, from its ``(batch, time, units)`` output.

    With masked recurrent layers the last step holds the state after the last
    real token, so this gives each layer's final state. A ``backwards`` layer
    returns its outputs in time order and ends at the first step.

    Parameters
    ----------
    incoming : Layer
    backwards : bool
        Take step 0 (the final step of a backwards layer).

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> LastStepLayer(InputLayer((None, 5, 8))).output_shape
    (None, 8)
    """

    def __init__(self, incoming, backwards=False, **kwargs):
        super(LastStepLayer, self).__init__(incoming, **kwargs)
        self.backwards = backwards

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_output_for(self, input, **kwargs):
        return input[:, 0] if self.backwards else input[:, -1]


class TiedOutputLayer(lasagne.layers.Layer):
    """Vocabulary logits through the transposed embedding matrix.

    Weight tying (Press & Wolf 2017; Inan et al. 2017): the output layer
    reuses the embeddings, ``logits = x W_emb^T + b``, so a word's input and
    output representations are one vector. It halves the parameters of a
    small model and makes copying words from the question natural.

    Parameters
    ----------
    incoming : Layer
        ``(rows, embedding_size)`` inputs.
    embedding : lasagne.layers.EmbeddingLayer
        The layer whose ``W`` (``(vocab_size, embedding_size)``) is reused.
    b : initializer
        Output biases.

    Examples
    --------
    >>> from lasagne.layers import EmbeddingLayer, InputLayer
    >>> l_emb = EmbeddingLayer(InputLayer((None, 3), input_var=T.imatrix()), 20, 8)
    >>> TiedOutputLayer(InputLayer((None, 8)), l_emb).output_shape
    (None, 20)
    """

    def __init__(self, incoming, embedding, b=init.Constant(0.0), **kwargs):
        super(TiedOutputLayer, self).__init__(incoming, **kwargs)
        self.embedding = embedding
        self.num_units = embedding.output_size
        self.b = self.add_param(b, (embedding.input_size,), name="b", regularizable=False)

    @property
    def W(self):
        """The shared embedding matrix, transposed: ``(embedding_size, vocab_size)``."""
        return self.embedding.W.T

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.embedding.input_size)

    def get_output_for(self, input, **kwargs):
        return T.dot(input, self.W) + self.b


class WordDropoutLayer(lasagne.layers.DropoutLayer):
    """Replace token ids by ``replacement`` (UNK) with probability ``p``.

    Word dropout on the decoder's inputs (Bowman et al. 2016) makes the
    decoder lean on the encoder instead of on the previous words. The first
    column (START) is never dropped. A :class:`~lasagne.layers.DropoutLayer`
    subclass, so its random state is checkpointed with the others'.

    Parameters
    ----------
    incoming : Layer
        ``(batch, time)`` int token ids.
    p : float
        Drop probability (0 or ``deterministic=True``: identity).
    replacement : int
        The id that replaces a dropped token.

    Examples
    --------
    >>> from lasagne.layers import InputLayer
    >>> WordDropoutLayer(InputLayer((None, 5)), p=0.25, replacement=1).output_shape
    (None, 5)
    """

    def __init__(self, incoming, p=0.1, replacement=1, **kwargs):
        super(WordDropoutLayer, self).__init__(incoming, p=p, **kwargs)
        self.replacement = replacement

    def get_output_for(self, input, deterministic=False, **kwargs):
        if deterministic or self.p == 0:
            return input
        keep = self._srng.binomial(input.shape, p=1 - self.p, dtype="int8")
        keep = T.set_subtensor(keep[:, 0], 1)
        return T.switch(keep, input, self.replacement).astype(input.dtype)


def norm_stabilizer(sequence, mask):
    """Norm-stabiliser penalty (Krueger & Memisevic 2015), before its factor.

    The mean over real steps ``t > 0`` of ``(||s_t|| - ||s_{t-1}||)^2``: it
    keeps the norm of hidden states (or logits) steady from step to step.

    Parameters
    ----------
    sequence : Theano 3-tensor ``(batch, time, units)``
    mask : Theano matrix ``(batch, time)``
        1 for real steps; padding comes last.

    Returns
    -------
    Theano scalar

    Examples
    --------
    >>> s, m = T.tensor3(), T.matrix()
    >>> f = theano.function([s, m], norm_stabilizer(s, m))
    >>> float(f(np.array([[[3, 4], [0, 1], [9, 9]]], "float32"),
    ...         np.array([[1, 1, 0]], "float32")))
    16.0
    """
    norms = T.sqrt(T.sum(T.sqr(sequence), axis=2) + 1e-8)
    steps = mask[:, 1:]
    changes = T.sqr(norms[:, 1:] - norms[:, :-1]) * steps
    return T.sum(changes) / T.maximum(T.sum(steps), 1.0)
