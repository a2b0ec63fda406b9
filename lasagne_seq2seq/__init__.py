"""lasagne_seq2seq: LSTM encoder-decoder dialogue models in Lasagne/Theano.

The package itself imports nothing heavy. Every module that uses Theano or
Lasagne imports :mod:`lasagne_seq2seq.compat` first, which installs the
stack's work-arounds before Theano loads (``tests/test_compat.py`` checks
this). Scripts may choose the device (:func:`lasagne_seq2seq.cli.select_device`)
before that happens.
"""

__version__ = "0.1.0"
