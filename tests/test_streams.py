"""Dropout's random streams compiled stream by stream
(:mod:`lasagne_seq2seq.nn.ops.streams`): the rewrite replaces Theano's
``mrg_uniform``, and the samples and the advanced states are Theano's own."""
import numpy as np
import pytest
import theano
from theano.sandbox.rng_mrg import MRG_RandomStream, mrg_uniform

from lasagne_seq2seq.nn.ops.streams import StreamwiseMRGUniform


def draws(size, dtype, mode, calls=2):
    """Two calls' samples and the final state of one stream set."""
    stream = MRG_RandomStream(1234)
    sample = stream.uniform(size, dtype=dtype)
    f = theano.function([], sample, mode=mode)
    ops = [type(node.op) for node in f.maker.fgraph.toposort()]
    samples = [f() for _ in range(calls)]
    state = stream.state_updates[0][0].get_value()
    return ops, samples, state


@pytest.mark.parametrize("size, dtype", [((7,), "float32"), ((64, 15, 128), "float32"),
                                         ((100, 333), "float32"), ((6000,), "float64")])
def test_the_samples_and_states_are_theanos(size, dtype):
    """Fewer elements than streams, several rounds with a partial last one,
    float64; the second call checks the carried state."""
    default = theano.compile.get_default_mode()
    ours = draws(size, dtype, default)
    theirs = draws(size, dtype, default.excluding("streamwise_mrg_uniform"))
    assert StreamwiseMRGUniform in ours[0] and StreamwiseMRGUniform not in theirs[0]
    assert mrg_uniform in theirs[0]
    for expected, got in zip(theirs[1], ours[1]):
        assert got.dtype == dtype and got.shape == size
        np.testing.assert_array_equal(expected, got)
    assert not np.array_equal(ours[1][0], ours[1][1])  # the state moved on
    np.testing.assert_array_equal(theirs[2], ours[2])
