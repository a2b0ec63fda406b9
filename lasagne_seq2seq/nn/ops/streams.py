"""Theano's MRG31k3p uniform draws (the random streams of dropout), stream by
stream: the same numbers and states, several times faster.

Theano's C loop (``mrg_uniform``) visits the elements in order and, at each,
loads and stores the six-integer state of stream ``i % n_streams``.
:class:`StreamwiseMRGUniform` walks each stream through its own elements
(``s``, ``s + n_streams``, ...) with its state in registers, the streams
shared out between OpenMP threads where BLAS runs on the same OpenMP pool
(:mod:`.cops`). Element ``i`` still gets stream ``i % n_streams``'s next
draw, so the samples and the final states are Theano's, bit for bit.

:func:`streamwise_mrg_uniform` is the graph rewrite that puts it in place of
``mrg_uniform`` in every compiled function ("fast_run"); the JAX back end
computes either with the same implementation
(:func:`lasagne_seq2seq.backend.compat._mrg_uniform_jax`).
"""
from theano.compile import optdb
from theano.graph.opt import TopoOptimizer, local_optimizer
from theano.sandbox.rng_mrg import mrg_uniform

from lasagne_seq2seq.nn.ops.cops import BlasCOp

__all__ = ["StreamwiseMRGUniform", "streamwise_mrg_uniform"]

_STREAM_LOOP = r"""
/* One MRG31k3p draw of lane b: advances its six state words, returns the
   integer sample in [1, M1]. */
#define S2S_MRG_DRAW(b, out) do {                                                   \
    npy_int32 y1 = ((x12[b] & 511) << 22) + (x12[b] >> 9)                           \
                   + ((x13[b] & 16777215) << 7) + (x13[b] >> 24);                   \
    y1 = (y1 < 0 || y1 >= 2147483647) ? y1 - 2147483647 : y1;                       \
    y1 += x13[b];                                                                   \
    y1 = (y1 < 0 || y1 >= 2147483647) ? y1 - 2147483647 : y1;                       \
    x13[b] = x12[b]; x12[b] = x11[b]; x11[b] = y1;                                  \
    npy_int32 z1 = ((x21[b] & 65535) << 15) + 21069 * (x21[b] >> 16);               \
    z1 = (z1 < 0 || z1 >= 2147462579) ? z1 - 2147462579 : z1;                       \
    npy_int32 z2 = ((x23[b] & 65535) << 15) + 21069 * (x23[b] >> 16);               \
    z2 = (z2 < 0 || z2 >= 2147462579) ? z2 - 2147462579 : z2;                       \
    z2 += x23[b];                                                                   \
    z2 = (z2 < 0 || z2 >= 2147462579) ? z2 - 2147462579 : z2;                       \
    z2 += z1;                                                                       \
    z2 = (z2 < 0 || z2 >= 2147462579) ? z2 - 2147462579 : z2;                       \
    x23[b] = x22[b]; x22[b] = x21[b]; x21[b] = z2;                                  \
    (out) = x11[b] <= x21[b] ? x11[b] - x21[b] + 2147483647 : x11[b] - x21[b];      \
} while (0)

/* Sixteen streams at a time, one SIMD lane each (the draws of a stream
   depend on each other; those of different streams do not). */
static void s2s_mrg_streams_%(dtype)s(%(dtype)s* sample, npy_int32* state,
                                      npy_int64 n_elements, int n_streams)
{
    #pragma omp parallel for schedule(static) if (s2s_parallel() && n_elements > 50000)
    for (int s0 = 0; s0 < n_streams; s0 += 16) {
        const int width = n_streams - s0 < 16 ? n_streams - s0 : 16;
        npy_int32 x11[16], x12[16], x13[16], x21[16], x22[16], x23[16];
        for (int b = 0; b < width; ++b) {
            const npy_int32* st = state + 6 * (npy_int64) (s0 + b);
            x11[b] = st[0]; x12[b] = st[1]; x13[b] = st[2];
            x21[b] = st[3]; x22[b] = st[4]; x23[b] = st[5];
        }
        for (npy_int64 base = s0; base < n_elements; base += n_streams) {
            %(dtype)s* out = sample + base;
            if (width == 16 && base + 16 <= n_elements) {
                #pragma omp simd
                for (int b = 0; b < 16; ++b) {
                    npy_int32 draw;
                    S2S_MRG_DRAW(b, draw);
                    out[b] = draw * %(norm)s;
                }
            } else {  /* the last, partial round: only the streams it reaches */
                for (int b = 0; b < width && base + b < n_elements; ++b) {
                    npy_int32 draw;
                    S2S_MRG_DRAW(b, draw);
                    out[b] = draw * %(norm)s;
                }
            }
        }
        for (int b = 0; b < width; ++b) {
            npy_int32* st = state + 6 * (npy_int64) (s0 + b);
            st[0] = x11[b]; st[1] = x12[b]; st[2] = x13[b];
            st[3] = x21[b]; st[4] = x22[b]; st[5] = x23[b];
        }
    }
}

/* What mrg_uniform's C code calls. */
static void cpu_rng_mrg_uniform_%(dtype)s(PyArrayObject* o_sample, PyArrayObject* o_rstate,
                                          npy_int64 n_elements, int n_streams)
{
    s2s_mrg_streams_%(dtype)s((%(dtype)s*) PyArray_DATA(o_sample),
                              (npy_int32*) PyArray_DATA(o_rstate), n_elements, n_streams);
}
"""


class StreamwiseMRGUniform(BlasCOp, mrg_uniform):
    """``mrg_uniform`` (``MRG_RandomStream.uniform``'s op) stream by stream.

    Same inputs, outputs, numbers and state as ``mrg_uniform``; only its C
    loop differs (see the module docstring). Built by
    :func:`streamwise_mrg_uniform`, not by hand.

    Examples
    --------
    >>> from theano.tensor import TensorType
    >>> op = StreamwiseMRGUniform(TensorType("float32", (False,)), inplace=True)
    >>> isinstance(op, mrg_uniform)
    True
    """

    def c_support_code(self, **kwargs):
        return BlasCOp.c_support_code(self) + "".join(
            _STREAM_LOOP % dict(dtype=dtype, norm=norm)
            for dtype, norm in (("npy_float32", "4.6566126e-10f"),
                                ("npy_float64", "4.656612873077392578125e-10")))

    def c_code_cache_version(self):
        return (2,) + mrg_uniform.c_code_cache_version(self)


@local_optimizer([mrg_uniform])
def streamwise_mrg_uniform(fgraph, node):
    """Replace Theano's ``mrg_uniform`` by :class:`StreamwiseMRGUniform`."""
    op = node.op
    if type(op) is mrg_uniform:
        return StreamwiseMRGUniform(op.output_type, op.inplace)(*node.inputs)
    return False


# Position 49.5: before Theano's in-place rewrites (mrg_uniform's own
# in-place version comes from its inplace flag, kept here).
optdb.register("streamwise_mrg_uniform", TopoOptimizer(streamwise_mrg_uniform), 49.5,
               "fast_run")
