"""lasagne_seq2seq: LSTM encoder-decoder dialogue models in Lasagne/Theano.

Importing the package installs the stack's compatibility fixes
(:mod:`lasagne_seq2seq.compat`) before Theano is imported.
"""
from . import compat  # noqa: F401  (must run before Theano is imported)

__version__ = "0.1.0"
