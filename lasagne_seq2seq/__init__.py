"""lasagne_seq2seq: LSTM encoder-decoder dialogue models in Lasagne/Theano.

Importing the package installs the stack's work-arounds
(:func:`lasagne_seq2seq.backend.compat.install`) and nothing heavier: Theano's
flags are set in the environment and Theano is patched when something first
imports it, so ``import lasagne_seq2seq, lasagne`` works, and a script may
still choose the device (:func:`lasagne_seq2seq.cli.select_device`) before
Theano loads.

The stages, each a subpackage whose modules import only the stages before it::

    backend/    the Theano stack: work-arounds, devices
    data/       corpora, text, vocabulary, batches, embeddings, toy tasks
    nn/         layers, cells, attention, sampled softmax, fused C ops
    rundir      run directories and checkpoints
    models/     the encoder-decoder family and its registry
    decode/     decoding options, search, the decoder
    train/      trainers, optimisers, the training run
    serve/      export, the HTTP server, the chat loop
    evaluation/ metrics and the evaluation of a run
"""
from lasagne_seq2seq.backend import compat as _compat

__version__ = "0.1.0"

_compat.install()
