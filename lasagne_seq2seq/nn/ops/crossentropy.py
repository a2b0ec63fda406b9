"""The output layer's softmax cross-entropy (and log-softmax) as C ops.

``-log softmax(x W + b)[target]`` over a 8,000-22,000-word vocabulary is the
largest cost of a training step: three matrix products of ``(tokens,
features)`` by ``(features, vocabulary)``, and the passes over the
``(tokens, vocabulary)`` logits between them. Theano's own ops write the
logits, then the softmax, then ``g * (softmax - onehot)`` into a new array
each, and call the scalar ``exp`` once per logit. Here:

* :class:`LinearSoftmaxCrossEntropy` ``(x, W, b, targets) -> (nll, p)``:
  one ``sgemm`` writes ``x W`` into ``p``, and one vectorised pass per row
  (the row maximum, ``exp(x W + b - max)`` and its sum) turns it in place into
  ``p = softmax - onehot(target)`` and gives ``nll = log(sum) + max -
  (x W + b)[target]``;
* :class:`LinearSoftmaxCrossEntropyGrad` ``(g, p, x, W) -> (dx, dWb)``:
  the gradient without ever scaling ``p`` by ``g`` (a pass over the largest
  array less): ``dx = g * (p W^T)`` row by row, and ``W``'s and ``b``'s
  gradients together from one ``sgemm``, ``[g * x, g]^T p``;

``W`` is ``(features, vocabulary)``, or the embedding matrix ``(vocabulary,
features)`` itself for a tied output layer (``word_rows``), so that its
gradient comes out in the layout the embeddings are stored in. Decoders take
log-probabilities from :class:`LogSoftmax` ``(x, b)``, the same row loop
(:mod:`lasagne_seq2seq.cops`: the exponential polynomial, threads).
Theano's optimiser leaves custom ops alone, so the graph keeps them as
written.
"""
import numpy as np

import theano.tensor as T
from theano.gradient import DisconnectedType
from theano.graph.basic import Apply
from theano.graph.op import Op
from theano.tensor.elemwise import DimShuffle

from lasagne_seq2seq.nn.ops.cops import BlasCOp

__all__ = ["linear_softmax_cross_entropy", "log_softmax", "scored_rows",
           "LinearSoftmaxCrossEntropy", "LinearSoftmaxCrossEntropyGrad", "LogSoftmax",
           "ScoredRows"]

_SOFTMAX_ROW = r"""
/* Softmax of one row of x + b into out; returns log(sum) + max, the row's
   log partition function. */
static inline float s2s_softmax_row(const float* x, const float* b, npy_intp cols, float* out)
{
    float top = -INFINITY;
    #pragma omp simd reduction(max:top)
    for (npy_intp j = 0; j < cols; ++j) {
        float v = x[j] + b[j];
        top = v > top ? v : top;
    }
    float sum = 0.0f;
    #pragma omp simd reduction(+:sum)
    for (npy_intp j = 0; j < cols; ++j) {
        float e = s2s_exp_nonpositive(x[j] + b[j] - top);
        out[j] = e;
        sum += e;
    }
    float inverse = 1.0f / sum;
    #pragma omp simd
    for (npy_intp j = 0; j < cols; ++j)
        out[j] *= inverse;
    return logf(sum) + top;
}
"""


class _RowOp(BlasCOp):
    """The softmax row loop on top of :class:`~lasagne_seq2seq.nn.ops.cops.BlasCOp`."""
    __props__ = ()

    def c_support_code(self, **kwargs):
        return super(_RowOp, self).c_support_code() + _SOFTMAX_ROW

    def c_code_cache_version(self):
        # Theano finds compiled code by this version: change it with the C code.
        return (10,)


def _check(condition, message, fail):
    return """if (!(%s)) { PyErr_SetString(PyExc_ValueError, "%s"); %s }""" % (
        condition, message, fail)


class LinearSoftmaxCrossEntropy(_RowOp):
    """``(x, W, b, targets) -> (nll, p)``: the loss of an output layer.

    ``x`` ``(n, E)`` float32 features; ``W`` ``(E, V)``, or ``(V, E)`` with
    ``word_rows``; ``b`` ``(V,)``; ``targets`` ``(n,)`` int32. ``nll`` is
    ``-log softmax(x W + b)[targets]`` per row; ``p`` ``(n, V)`` is
    ``softmax - onehot(targets)``, kept for the gradient (only ``nll`` is
    differentiable). See the module docstring.
    """
    __props__ = ("word_rows",)

    def __init__(self, word_rows=False):
        self.word_rows = bool(word_rows)

    def make_node(self, x, W, b, targets):
        x, W, b, targets = (T.as_tensor_variable(v) for v in (x, W, b, targets))
        if (x.ndim, W.ndim, b.ndim, targets.ndim) != (2, 2, 1, 1) or targets.dtype != "int32" \
                or any(v.dtype != "float32" for v in (x, W, b)):
            raise TypeError("LinearSoftmaxCrossEntropy needs float32 x (n, E), W (E, V) or "
                            "(V, E), b (V,) and int32 targets (n,)")
        return Apply(self, [x, W, b, targets], [T.fvector(), T.fmatrix()])

    def perform(self, node, inputs, outputs):
        # NumPy, for Theano without a C compiler (and as a reference in tests).
        x, W, b, targets = inputs
        logits = x.dot(W.T if self.word_rows else W) + b
        top = logits.max(axis=1, keepdims=True)
        exps = np.exp(logits - top)
        sums = exps.sum(axis=1)
        rows = np.arange(len(targets))
        p = (exps / sums[:, None]).astype(np.float32)
        p[rows, targets] -= 1
        outputs[0][0] = (np.log(sums) + top[:, 0] - logits[rows, targets]).astype(np.float32)
        outputs[1][0] = p

    def jax_funcify(self):
        """This op for theano-pymc's JAX linker (``--backend jax``; :mod:`.jax_impl`)."""
        from lasagne_seq2seq.nn.ops import jax_impl
        return lambda x, W, b, targets: jax_impl.linear_softmax_cross_entropy(
            x, W, b, targets, self.word_rows)

    def infer_shape(self, fgraph, node, shapes):
        x, W, _, _ = shapes
        return [(x[0],), (x[0], W[0] if self.word_rows else W[1])]

    def connection_pattern(self, node):
        return [[True, True], [True, True], [True, True], [False, False]]

    def grad(self, inputs, output_grads):
        x, W, b, targets = inputs
        g_nll, g_p = output_grads
        if not isinstance(g_p.type, DisconnectedType):
            raise NotImplementedError("LinearSoftmaxCrossEntropy: only the nll is differentiable")
        _, p = self(x, W, b, targets)
        dx, dWb = LinearSoftmaxCrossEntropyGrad(self.word_rows)(g_nll, p, x, W)
        if self.word_rows:  # dWb is (V, E + 1)
            return [dx, dWb[:, :-1], dWb[:, -1], DisconnectedType()()]
        return [dx, dWb[:-1], dWb[-1], DisconnectedType()()]  # (E + 1, V)

    def c_code(self, node, name, inputs, outputs, sub):
        x, W, b, targets = inputs
        nll, p = outputs
        fail = sub["fail"]
        # Row-major products are column-major ones transposed: out^T = W^T x^T.
        if self.word_rows:  # W (V, E)
            vocabulary_axis, feature_axis = 0, 1
            product = ('sgemm_((char*) "T", (char*) "N", &V, &N, &E, &one, (float*) w, &E, '
                       '(float*) xs, &E, &zero, out, &V);')
        else:  # W (E, V)
            vocabulary_axis, feature_axis = 1, 0
            product = ('sgemm_((char*) "N", (char*) "N", &V, &N, &E, &one, (float*) w, &V, '
                       '(float*) xs, &E, &zero, out, &V);')
        return r"""
        {
        PyArrayObject* x_c = s2s_contiguous_float(%(x)s);  // new references
        PyArrayObject* w_c = s2s_contiguous_float(%(W)s);
        PyArrayObject* b_c = s2s_contiguous_float(%(b)s);
        int ok = x_c && w_c && b_c;
        npy_intp rows = 0, features = 0, words = 0;
        if (ok) {
            rows = PyArray_DIMS(x_c)[0];
            features = PyArray_DIMS(x_c)[1];
            words = PyArray_DIMS(w_c)[%(vocabulary_axis)d];
            if (PyArray_DIMS(w_c)[%(feature_axis)d] != features || PyArray_DIMS(b_c)[0] != words
                    || PyArray_DIMS(%(targets)s)[0] != rows) {
                PyErr_Format(PyExc_ValueError,
                             "LinearSoftmaxCrossEntropy: shapes do not fit: x (%%ld, %%ld), "
                             "W (%%ld, %%ld), b (%%ld,), targets (%%ld,)",
                             (long) rows, (long) features, (long) PyArray_DIMS(w_c)[0],
                             (long) PyArray_DIMS(w_c)[1], (long) PyArray_DIMS(b_c)[0],
                             (long) PyArray_DIMS(%(targets)s)[0]);
                ok = 0;
            }
        }
        npy_intp p_dims[2] = {rows, words};
        if (ok && (s2s_ensure_output(&%(nll)s, 1, &rows)
                   || s2s_ensure_output(&%(p)s, 2, p_dims)))
            ok = 0;
        if (ok) {
            const int N = (int) rows, E = (int) features, V = (int) words;
            const float one = 1.0f, zero = 0.0f;
            const float* w = (const float*) PyArray_DATA(w_c);
            const float* xs = (const float*) PyArray_DATA(x_c);
            const float* bias = (const float*) PyArray_DATA(b_c);
            const npy_int32* t_data = (const npy_int32*) PyArray_DATA(%(targets)s);
            npy_intp t_stride = PyArray_STRIDES(%(targets)s)[0] / sizeof(npy_int32);
            float* out = (float*) PyArray_DATA(%(p)s);
            float* nll = (float*) PyArray_DATA(%(nll)s);
            if (rows && words) {
                if (features)
                    %(product)s
                else
                    memset(out, 0, rows * words * sizeof(float));
            }
            for (npy_intp i = 0; i < rows && ok; ++i) {
                npy_int32 t = t_data[i * t_stride];
                if (t < 0 || t >= words) {
                    PyErr_Format(PyExc_IndexError,
                                 "LinearSoftmaxCrossEntropy: target %%d is out of range "
                                 "for a vocabulary of %%ld words", (int) t, (long) words);
                    ok = 0;
                }
            }
            if (ok) {
                #pragma omp parallel for schedule(static) if (s2s_parallel())
                for (npy_intp i = 0; i < rows; ++i) {
                    float* row = out + i * words;
                    npy_int32 t = t_data[i * t_stride];
                    float target_logit = row[t] + bias[t];
                    nll[i] = s2s_softmax_row(row, bias, words, row) - target_logit;
                    row[t] -= 1.0f;
                }
            }
        }
        Py_XDECREF(x_c);
        Py_XDECREF(w_c);
        Py_XDECREF(b_c);
        if (!ok) %(fail)s
        }
        """ % dict(locals(), vocabulary_axis=vocabulary_axis, feature_axis=feature_axis)


class LinearSoftmaxCrossEntropyGrad(_RowOp):
    """``(g, p, x, W) -> (dx, dWb)``: the gradient of
    :class:`LinearSoftmaxCrossEntropy` for the gradient ``g`` of its ``nll``.

    ``dx = g * (p W^T)`` row by row; ``dWb`` holds ``W``'s gradient with
    ``b``'s as one more row (``(E + 1, V)``), or one more column for
    ``word_rows`` (``(V, E + 1)``): both come from ``[g * x, g]^T p``.
    """
    __props__ = ("word_rows",)

    def __init__(self, word_rows=False):
        self.word_rows = bool(word_rows)

    def make_node(self, g, p, x, W):
        g, p, x, W = (T.as_tensor_variable(v) for v in (g, p, x, W))
        return Apply(self, [T.cast(g, "float32"), p, x, W], [T.fmatrix(), T.fmatrix()])

    def perform(self, node, inputs, outputs):
        g, p, x, W = inputs
        scaled = np.concatenate([x * g[:, None], g[:, None]], axis=1)
        outputs[0][0] = (p.dot(W if self.word_rows else W.T) * g[:, None]).astype(np.float32)
        weights = p.T.dot(scaled) if self.word_rows else scaled.T.dot(p)
        outputs[1][0] = weights.astype(np.float32)

    def jax_funcify(self):
        """This op for theano-pymc's JAX linker (``--backend jax``; :mod:`.jax_impl`)."""
        from lasagne_seq2seq.nn.ops import jax_impl
        return lambda g, p, x, W: jax_impl.linear_softmax_cross_entropy_grad(
            g, p, x, W, self.word_rows)

    def infer_shape(self, fgraph, node, shapes):
        _, p, x, _ = shapes
        if self.word_rows:
            return [x, (p[1], x[1] + 1)]
        return [x, (x[1] + 1, p[1])]

    def c_code(self, node, name, inputs, outputs, sub):
        g, p, x, W = inputs
        dx, dWb = outputs
        fail = sub["fail"]
        if self.word_rows:
            # dx^T (E, n) = W^T p^T; dWb^T (E + 1, V) = [g x, g]^T p
            dx_product = ('sgemm_((char*) "N", (char*) "N", &E, &N, &V, &one, (float*) w, &E, '
                          '(float*) ps, &V, &zero, dxs, &E);')
            dwb_product = ('sgemm_((char*) "N", (char*) "T", &E1, &V, &N, &one, scaled, &E1, '
                           '(float*) ps, &V, &zero, dwb, &E1);')
            dwb_dims = "{words, features + 1}"
        else:
            # dx^T (E, n) = W p^T; dWb^T (V, E + 1) = p^T [g x, g]
            dx_product = ('sgemm_((char*) "T", (char*) "N", &E, &N, &V, &one, (float*) w, &V, '
                          '(float*) ps, &V, &zero, dxs, &E);')
            dwb_product = ('sgemm_((char*) "N", (char*) "T", &V, &E1, &N, &one, (float*) ps, &V, '
                           'scaled, &E1, &zero, dwb, &V);')
            dwb_dims = "{features + 1, words}"
        return r"""
        {
        PyArrayObject* p_c = s2s_contiguous_float(%(p)s);  // new references
        PyArrayObject* x_c = s2s_contiguous_float(%(x)s);
        PyArrayObject* w_c = s2s_contiguous_float(%(W)s);
        float* scaled = NULL;
        int ok = p_c && x_c && w_c;
        npy_intp rows = 0, features = 0, words = 0;
        if (ok) {
            rows = PyArray_DIMS(x_c)[0];
            features = PyArray_DIMS(x_c)[1];
            words = PyArray_DIMS(p_c)[1];
            ok = PyArray_DIMS(p_c)[0] == rows && PyArray_DIMS(%(g)s)[0] == rows;
            if (!ok)
                PyErr_SetString(PyExc_ValueError,
                                "LinearSoftmaxCrossEntropyGrad: g, p and x need one row per token");
        }
        npy_intp dwb_dims[2] = %(dwb_dims)s;
        if (ok && (s2s_ensure_output(&%(dx)s, 2, PyArray_DIMS(x_c))
                   || s2s_ensure_output(&%(dWb)s, 2, dwb_dims)))
            ok = 0;
        if (ok && !(scaled = (float*) malloc((rows * (features + 1) + 1) * sizeof(float)))) {
            PyErr_NoMemory();
            ok = 0;
        }
        if (ok) {
            const int N = (int) rows, E = (int) features, V = (int) words, E1 = E + 1;
            const float one = 1.0f, zero = 0.0f;
            const float* w = (const float*) PyArray_DATA(w_c);
            const float* ps = (const float*) PyArray_DATA(p_c);
            const float* xs = (const float*) PyArray_DATA(x_c);
            const float* g_data = (const float*) PyArray_DATA(%(g)s);
            npy_intp g_stride = PyArray_STRIDES(%(g)s)[0] / sizeof(float);
            float* dxs = (float*) PyArray_DATA(%(dx)s);
            float* dwb = (float*) PyArray_DATA(%(dWb)s);
            for (npy_intp i = 0; i < rows; ++i) {  // [g x, g]
                float gi = g_data[i * g_stride];
                #pragma omp simd
                for (npy_intp j = 0; j < features; ++j)
                    scaled[i * E1 + j] = gi * xs[i * features + j];
                scaled[i * E1 + features] = gi;
            }
            if (rows && words && features) {
                %(dx_product)s
                for (npy_intp i = 0; i < rows; ++i) {
                    float gi = g_data[i * g_stride];
                    #pragma omp simd
                    for (npy_intp j = 0; j < features; ++j)
                        dxs[i * features + j] *= gi;
                }
            } else {
                memset(dxs, 0, rows * features * sizeof(float));
            }
            if (rows && words)
                %(dwb_product)s
            else
                memset(dwb, 0, words * (features + 1) * sizeof(float));
        }
        free(scaled);
        Py_XDECREF(p_c);
        Py_XDECREF(x_c);
        Py_XDECREF(w_c);
        if (!ok) %(fail)s
        }
        """ % locals()


class LogSoftmax(_RowOp):
    """``(x, b) -> log softmax(x + b)`` row by row, for decoding (no gradient)."""

    def make_node(self, x, b):
        x, b = T.as_tensor_variable(x), T.as_tensor_variable(b)
        if (x.type.ndim, b.type.ndim) != (2, 1) or x.dtype != "float32" or b.dtype != "float32":
            raise TypeError("LogSoftmax needs float32 x (n, V) and float32 b (V,)")
        return Apply(self, [x, b], [x.type()])

    def perform(self, node, inputs, outputs):
        x, b = inputs
        logits = x + b
        top = logits.max(axis=1, keepdims=True)
        log_sums = np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
        outputs[0][0] = (logits - top - log_sums).astype(np.float32)

    def jax_funcify(self):
        """This op for theano-pymc's JAX linker (``--backend jax``; :mod:`.jax_impl`)."""
        from lasagne_seq2seq.nn.ops import jax_impl
        return jax_impl.log_softmax

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def c_code(self, node, name, inputs, outputs, sub):
        x, b = inputs
        out, = outputs
        fail = sub["fail"]
        check = _check("PyArray_DIMS(%s)[0] == PyArray_DIMS(%s)[1]" % (b, x),
                       "b must have one value per column of x", fail)
        return r"""
        {
        %(check)s
        npy_intp rows = PyArray_DIMS(%(x)s)[0], cols = PyArray_DIMS(%(x)s)[1];
        if (s2s_ensure_output(&%(out)s, 2, PyArray_DIMS(%(x)s))) %(fail)s
        PyArrayObject* x_c = PyArray_GETCONTIGUOUS(%(x)s);  // new references
        PyArrayObject* b_c = PyArray_GETCONTIGUOUS(%(b)s);
        if (!x_c || !b_c) { Py_XDECREF(x_c); Py_XDECREF(b_c); %(fail)s }
        const float* b_data = (const float*) PyArray_DATA(b_c);
        #pragma omp parallel for schedule(static) if (s2s_parallel() && rows * cols >= 65536)
        for (npy_intp i = 0; i < rows; ++i) {
            const float* x_row = (const float*) PyArray_GETPTR2(x_c, i, 0);
            float* o_row = (float*) PyArray_GETPTR2(%(out)s, i, 0);
            float log_partition = s2s_softmax_row(x_row, b_data, cols, o_row);
            #pragma omp simd
            for (npy_intp j = 0; j < cols; ++j)
                o_row[j] = x_row[j] + b_data[j] - log_partition;
        }
        Py_DECREF(x_c);
        Py_DECREF(b_c);
        }
        """ % locals()


class ScoredRows(Op):
    """``mask -> rows``: the rows of a flat target mask the loss must score.

    The C back end gets the nonzero rows only, so that the output layer's
    products skip the padding of a batch (a fifth of a default batch's
    target rows). XLA (``--backend jax``) needs shapes known when it
    compiles: there it gets every row, and the mask's zeros in the sum drop
    the padding. Either way ``rows`` holds every nonzero row, in order.
    """
    __props__ = ()

    def make_node(self, mask):
        mask = T.as_tensor_variable(mask)
        if mask.ndim != 1:
            raise TypeError("ScoredRows needs a flat mask (n,)")
        return Apply(self, [mask], [T.lvector()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.flatnonzero(inputs[0]).astype(np.int64)

    def jax_funcify(self):
        """Every row (``--backend jax``): XLA compiles for static shapes."""
        import jax.numpy as jnp
        return lambda mask: jnp.arange(mask.shape[0])

    def grad(self, inputs, output_grads):
        return [inputs[0].zeros_like()]

    def connection_pattern(self, node):
        return [[False]]


def scored_rows(mask):
    """The rows of a flat target mask the loss scores (:class:`ScoredRows`).

    Parameters
    ----------
    mask : Theano vector ``(n,)``
        1 at real target tokens, 0 at padding.

    Returns
    -------
    Theano int64 vector
        Row indices, ascending, holding at least every nonzero row; score
        ``x[rows]`` against ``targets[rows]`` and weigh the losses by
        ``mask[rows]``.

    Examples
    --------
    >>> m = T.fvector()
    >>> theano.function([m], scored_rows(m))(np.float32([1, 0, 1, 1, 0]))
    array([0, 2, 3])
    """
    return ScoredRows()(mask)


def linear_softmax_cross_entropy(x, W, b, targets):
    """``-log softmax(x W + b)[targets]`` per row, with the C ops.

    Parameters
    ----------
    x : Theano matrix ``(n, E)``
        Features (the output layer's input).
    W : Theano matrix ``(E, V)``
        The output weights; the transpose of a ``(V, E)`` matrix (a tied
        output layer's ``embedding.W.T``) is passed to the op as that matrix.
    b : Theano vector ``(V,)``
    targets : Theano int vector ``(n,)``

    Returns
    -------
    Theano vector ``(n,)``
        float32 from the C ops; for float64 inputs, Theano's own softmax
        cross-entropy.

    Examples
    --------
    >>> x, W, b, t = T.fmatrix(), T.fmatrix(), T.fvector(), T.ivector()
    >>> f = theano.function([x, W, b, t], linear_softmax_cross_entropy(x, W, b, t))
    >>> nll = f(np.ones((2, 3), "float32"), np.zeros((3, 4), "float32"),
    ...         np.zeros(4, "float32"), np.int32([0, 3]))
    >>> np.allclose(nll, np.log(4))
    True
    """
    if any(v.dtype != "float32" for v in (x, W, b)):  # floatX=float64: Theano's own op
        return T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, W) + b), targets)
    word_rows = W.owner is not None and isinstance(W.owner.op, DimShuffle) \
        and W.owner.op.new_order == (1, 0)
    weights = W.owner.inputs[0] if word_rows else W
    return LinearSoftmaxCrossEntropy(word_rows)(x, weights, b, T.cast(targets, "int32"))[0]


def log_softmax(x, b):
    """``log softmax(x + b)`` per row (decoding), with the vectorised C op.

    Parameters
    ----------
    x : Theano matrix ``(n, V)``
        Logits without the bias.
    b : Theano vector ``(V,)``

    Returns
    -------
    Theano matrix ``(n, V)``
        float32 from the C op; for float64 inputs, Theano's ``logsoftmax``.

    Examples
    --------
    >>> x, b = T.fmatrix(), T.fvector()
    >>> f = theano.function([x, b], log_softmax(x, b))
    >>> np.allclose(f(np.zeros((1, 4), "float32"), np.zeros(4, "float32")), -np.log(4))
    True
    """
    if x.dtype != "float32" or b.dtype != "float32":
        return T.nnet.logsoftmax(x + b)
    return LogSoftmax()(x, b)
