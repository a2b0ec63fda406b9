"""The LSTM recurrence over a whole sequence as one C op, forward and backward.

Unrolled into Theano's graph, the 15 + 16 steps of a default-size encoder and
decoder are about 1,400 small ops (a ``Gemm``, four gate slices, the
``sigmoid``s and ``tanh``s through libm's scalar functions, a mask
``switch`` and a ``join`` per step, the same again backwards), and at the
default size they took most of a training step outside the output layer.
PyTorch runs the same recurrence as one fused oneDNN primitive. Here:

* :class:`LSTMSequence` ``(projections, W_hid, state0, mask) -> (states,
  activations)``: per step, the recurrent product added to that step's input
  projection by one ``sgemm``, then one vectorised pass over the gates (the
  exponential polynomial of :mod:`lasagne_seq2seq.cops`) that writes
  the state ``[h, c]`` and keeps the gate activations for the gradient;
* :class:`LSTMSequenceGrad` walks the steps backwards with one ``sgemm``
  per step for the gradient into ``h``, and gets the gradient of ``W_hid``
  from a single ``sgemm`` over all the steps at the end;

batch-major, as the layers' inputs and outputs are (``sgemm`` reads a step's
rows where they lie), with the loops over the batch on OpenMP threads where
BLAS shares them (:mod:`lasagne_seq2seq.cops`);

the arithmetic of :class:`lasagne_seq2seq.nn.cells.LSTMLayer`'s step (no
peepholes, gates ordered input, forget, cell, output; a masked step carries
the state over; Lasagne's ``grad_clipping`` clips the gradient of the
recurrent product). The input projections of all steps stay one large
product outside the op, as before. C plumbing: :mod:`lasagne_seq2seq.cops`.
"""
import numpy as np

import theano.tensor as T
from theano.gradient import DisconnectedType
from theano.graph.basic import Apply

from lasagne_seq2seq.nn.ops.cops import BlasCOp

__all__ = ["lstm_sequence", "LSTMSequence", "LSTMSequenceGrad"]

_GATES_SUPPORT = r"""
static inline float s2s_sigmoid(float x)
{
    float e = s2s_exp_nonpositive(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

static inline float s2s_tanh(float x)
{
    float a = fabsf(x);
    float e = s2s_exp_nonpositive(-2.0f * a);
    float t = (1.0f - e) / (1.0f + e);
    /* Near 0, 1 - e cancels: the Taylor series is exact to float32 there. */
    float a2 = a * a;
    float series = a * (1.0f + a2 * (-0.333333333f + a2 * (0.133333333f - a2 * 0.0539682540f)));
    t = a < 0.0625f ? series : t;
    return x >= 0.0f ? t : -t;
}
"""


class _LSTMOp(BlasCOp):
    """The vectorised gate functions on top of :class:`~lasagne_seq2seq.nn.ops.cops.BlasCOp`."""
    __props__ = ("grad_clipping",)

    def __init__(self, grad_clipping=0.0):
        self.grad_clipping = float(grad_clipping)

    def c_support_code(self, **kwargs):
        return super(_LSTMOp, self).c_support_code() + _GATES_SUPPORT

    def c_code_cache_version(self):
        # Theano finds compiled code by this version: change it with the C code.
        return (7,)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _clip(x, limit):
    return np.clip(x, -limit, limit) if limit else x


def _float32_tensor(ndim):
    return T.TensorType("float32", (False,) * ndim)()


class LSTMSequence(_LSTMOp):
    """``(projections, W_hid, state0, mask) -> (states, activations)``, batch-major.

    ``projections`` ``(batch, time, 4 units)``: every step's input times
    ``W_in`` plus bias; ``W_hid`` ``(units, 4 units)``; ``state0`` ``(batch,
    2 units)``, ``[h, c]``; ``mask`` ``(batch, time)``, nonzero for real
    steps. ``states`` ``(batch, time, 2 units)`` is the state after every
    step; ``activations`` (the shape of ``projections``) the gates after
    their nonlinearities, for the gradient (only ``states`` is
    differentiable). Batch-major as the layers' inputs and outputs are: one
    step's rows are ``time x 4 units`` apart, a leading dimension that
    ``sgemm`` takes as it is, so nothing is transposed on the way in or out.
    """

    def make_node(self, projections, W_hid, state0, mask):
        projections, W_hid, state0 = (T.as_tensor_variable(v) for v in (projections, W_hid, state0))
        mask = T.cast(mask, "float32")
        if (projections.ndim, W_hid.ndim, state0.ndim, mask.ndim) != (3, 2, 2, 2) or any(
                v.dtype != "float32" for v in (projections, W_hid, state0)):
            raise TypeError("LSTMSequence needs float32 projections (batch, time, 4 units), "
                            "W_hid (units, 4 units), state0 (batch, 2 units) and a mask "
                            "(batch, time)")
        return Apply(self, [projections, W_hid, state0, mask],
                     [_float32_tensor(3), _float32_tensor(3)])

    def perform(self, node, inputs, outputs):
        # NumPy, for Theano without a C compiler (and as a reference in tests).
        projections, W_hid, state0, mask = inputs
        n = W_hid.shape[0]
        states = np.empty(projections.shape[:2] + (2 * n,), np.float32)
        activations = np.empty_like(projections)
        state = state0
        for t in range(projections.shape[1]):
            gates = projections[:, t] + state[:, :n].dot(W_hid)
            act = np.concatenate([_sigmoid(gates[:, :2 * n]), np.tanh(gates[:, 2 * n:3 * n]),
                                  _sigmoid(gates[:, 3 * n:])], axis=1)
            cell = act[:, n:2 * n] * state[:, n:] + act[:, :n] * act[:, 2 * n:3 * n]
            new_state = np.concatenate([act[:, 3 * n:] * np.tanh(cell), cell], axis=1)
            state = np.where(mask[:, t, None] != 0, new_state, state)
            states[:, t], activations[:, t] = state, act
        outputs[0][0], outputs[1][0] = states, activations

    def jax_funcify(self):
        """This op for theano-pymc's JAX linker (``--backend jax``; :mod:`.jax_impl`)."""
        from lasagne_seq2seq.nn.ops import jax_impl
        return jax_impl.lstm_sequence

    def infer_shape(self, fgraph, node, shapes):
        projections, W_hid, _, _ = shapes
        return [(projections[0], projections[1], 2 * W_hid[0]), projections]

    def connection_pattern(self, node):
        return [[True, True], [True, True], [True, True], [False, False]]

    def grad(self, inputs, output_grads):
        projections, W_hid, state0, mask = inputs
        g_states, g_activations = output_grads
        if not isinstance(g_activations.type, DisconnectedType):
            raise NotImplementedError("LSTMSequence: only the states are differentiable")
        states, activations = self(projections, W_hid, state0, mask)
        if isinstance(g_states.type, DisconnectedType):
            g_states = T.zeros_like(states)
        d_projections, d_W_hid, d_state0 = LSTMSequenceGrad(self.grad_clipping)(
            W_hid, state0, mask, states, activations, g_states)
        return [d_projections, d_W_hid, d_state0, DisconnectedType()()]

    def c_code(self, node, name, inputs, outputs, sub):
        projections, W_hid, state0, mask = inputs
        states, activations = outputs
        fail = sub["fail"]
        return r"""
        {
        PyArrayObject* p_c = s2s_contiguous_float(%(projections)s);  // new references
        PyArrayObject* w_c = s2s_contiguous_float(%(W_hid)s);
        PyArrayObject* s0_c = s2s_contiguous_float(%(state0)s);
        PyArrayObject* m_c = s2s_contiguous_float(%(mask)s);
        int ok = p_c && w_c && s0_c && m_c;
        npy_intp steps = 0, batch = 0, units = 0;
        if (ok) {
            batch = PyArray_DIMS(p_c)[0];
            steps = PyArray_DIMS(p_c)[1];
            units = PyArray_DIMS(w_c)[0];
            if (PyArray_DIMS(w_c)[1] != 4 * units || PyArray_DIMS(p_c)[2] != 4 * units
                    || PyArray_DIMS(s0_c)[0] != batch || PyArray_DIMS(s0_c)[1] != 2 * units
                    || PyArray_DIMS(m_c)[0] != batch || PyArray_DIMS(m_c)[1] != steps) {
                PyErr_Format(PyExc_ValueError,
                             "LSTMSequence: shapes do not fit: projections (%%ld, %%ld, %%ld), "
                             "W_hid (%%ld, %%ld), state0 (%%ld, %%ld), mask (%%ld, %%ld)",
                             (long) batch, (long) steps, (long) PyArray_DIMS(p_c)[2],
                             (long) units, (long) PyArray_DIMS(w_c)[1],
                             (long) PyArray_DIMS(s0_c)[0], (long) PyArray_DIMS(s0_c)[1],
                             (long) PyArray_DIMS(m_c)[0], (long) PyArray_DIMS(m_c)[1]);
                ok = 0;
            }
        }
        npy_intp state_dims[3] = {batch, steps, 2 * units};
        if (ok && (s2s_ensure_output(&%(states)s, 3, state_dims)
                   || s2s_ensure_output(&%(activations)s, 3, PyArray_DIMS(p_c))))
            ok = 0;
        if (ok) {
            const npy_intp gates = 4 * units, width = 2 * units;
            const int G = (int) gates, B = (int) batch, N = (int) units, W2 = (int) width;
            const int act_ld = (int) (steps * gates), state_ld = (int) (steps * width);
            const float one = 1.0f;
            const float* w = (const float*) PyArray_DATA(w_c);
            const float* m = (const float*) PyArray_DATA(m_c);
            const float* s0 = (const float*) PyArray_DATA(s0_c);
            float* s = (float*) PyArray_DATA(%(states)s);
            float* a = (float*) PyArray_DATA(%(activations)s);
            memcpy(a, PyArray_DATA(p_c), batch * steps * gates * sizeof(float));
            const int parallel = s2s_parallel() && batch * units >= 4096;
            for (npy_intp t = 0; t < steps; ++t) {
                // Step t's rows: one per example, act_ld (state_ld) floats apart.
                const float* previous = t ? s + (t - 1) * width : s0;
                const int previous_ld = t ? state_ld : W2;
                float* act = a + t * gates;
                // act (batch, gates) += h_previous (batch, units) W_hid, row-major;
                // BLAS is column-major, so the product is taken transposed.
                if (batch && units)
                    sgemm_((char*) "N", (char*) "N", &G, &B, &N, &one, (float*) w, &G,
                           (float*) previous, &previous_ld, &one, act, &act_ld);
                #pragma omp parallel for schedule(static) if (parallel)
                for (npy_intp b = 0; b < batch; ++b) {
                    const float* prev = previous + b * previous_ld;
                    float* out = s + (b * steps + t) * width;
                    float* g = act + b * act_ld;
                    if (m[b * steps + t] == 0.0f) {
                        memcpy(out, prev, width * sizeof(float));
                        continue;
                    }
                    #pragma omp simd
                    for (npy_intp j = 0; j < units; ++j) {
                        float i_ = s2s_sigmoid(g[j]);
                        float f_ = s2s_sigmoid(g[units + j]);
                        float c_ = s2s_tanh(g[2 * units + j]);
                        float o_ = s2s_sigmoid(g[3 * units + j]);
                        float cell = f_ * prev[units + j] + i_ * c_;
                        out[units + j] = cell;
                        out[j] = o_ * s2s_tanh(cell);
                        g[j] = i_;
                        g[units + j] = f_;
                        g[2 * units + j] = c_;
                        g[3 * units + j] = o_;
                    }
                }
            }
        }
        Py_XDECREF(p_c);
        Py_XDECREF(w_c);
        Py_XDECREF(s0_c);
        Py_XDECREF(m_c);
        if (!ok) %(fail)s
        }
        """ % locals()


class LSTMSequenceGrad(_LSTMOp):
    """``(W_hid, state0, mask, states, activations, d_states) -> (d_projections,
    d_W_hid, d_state0)``: the gradient of :class:`LSTMSequence`, from its
    outputs and the gradient of its ``states`` (batch-major)."""

    def make_node(self, W_hid, state0, mask, states, activations, d_states):
        inputs = [T.as_tensor_variable(v) for v in
                  (W_hid, state0, mask, states, activations, d_states)]
        inputs[-1] = T.cast(inputs[-1], "float32")
        return Apply(self, inputs,
                     [_float32_tensor(3), _float32_tensor(2), _float32_tensor(2)])

    def perform(self, node, inputs, outputs):
        W_hid, state0, mask, states, activations, d_states = inputs
        n = W_hid.shape[0]
        d_projections = np.zeros_like(activations)
        carry = np.zeros_like(state0)
        for t in range(states.shape[1] - 1, -1, -1):
            previous = states[:, t - 1] if t else state0
            total = d_states[:, t] + carry
            i, f, c, o = np.split(activations[:, t], 4, axis=1)
            dh, tc = total[:, :n], np.tanh(states[:, t, n:])
            dc = total[:, n:] + dh * o * (1 - tc * tc)
            d = np.concatenate([dc * c * i * (1 - i), dc * previous[:, n:] * f * (1 - f),
                                dc * i * (1 - c * c), dh * tc * o * (1 - o)], axis=1)
            real = mask[:, t, None] != 0
            d_projections[:, t] = np.where(real, d, 0)
            carry = np.where(real, np.concatenate([np.zeros_like(dc), dc * f], axis=1), total)
            carry[:, :n] += _clip(d_projections[:, t], self.grad_clipping).dot(W_hid.T)
        previous_h = np.concatenate([state0[:, None, :n], states[:, :-1, :n]], axis=1)
        d_W_hid = np.einsum("bti,btg->ig", previous_h,
                            _clip(d_projections, self.grad_clipping)).astype(np.float32)
        outputs[0][0], outputs[1][0], outputs[2][0] = d_projections, d_W_hid, carry

    def jax_funcify(self):
        """This op for theano-pymc's JAX linker (``--backend jax``; :mod:`.jax_impl`)."""
        from lasagne_seq2seq.nn.ops import jax_impl
        return lambda *inputs: jax_impl.lstm_sequence_grad(*inputs, self.grad_clipping)

    def infer_shape(self, fgraph, node, shapes):
        W_hid, state0, _, _, activations, _ = shapes
        return [activations, W_hid, state0]

    def c_code(self, node, name, inputs, outputs, sub):
        W_hid, state0, mask, states, activations, d_states = inputs
        d_projections, d_W_hid, d_state0 = outputs
        fail = sub["fail"]
        clip = self.grad_clipping
        return r"""
        {
        PyArrayObject* w_c = s2s_contiguous_float(%(W_hid)s);  // new references
        PyArrayObject* s0_c = s2s_contiguous_float(%(state0)s);
        PyArrayObject* m_c = s2s_contiguous_float(%(mask)s);
        PyArrayObject* s_c = s2s_contiguous_float(%(states)s);
        PyArrayObject* a_c = s2s_contiguous_float(%(activations)s);
        PyArrayObject* ds_c = s2s_contiguous_float(%(d_states)s);
        float* clipped = NULL;
        float* total = NULL;
        float* previous_h = NULL;
        int ok = w_c && s0_c && m_c && s_c && a_c && ds_c;
        npy_intp steps = 0, batch = 0, units = 0;
        if (ok) {
            batch = PyArray_DIMS(a_c)[0];
            steps = PyArray_DIMS(a_c)[1];
            units = PyArray_DIMS(w_c)[0];
            for (int k = 0; k < 3; ++k)
                ok = ok && PyArray_DIMS(ds_c)[k] == PyArray_DIMS(s_c)[k];
            if (!ok)
                PyErr_SetString(PyExc_ValueError,
                                "LSTMSequenceGrad: d_states must have the shape of states");
        }
        if (ok && (s2s_ensure_output(&%(d_projections)s, 3, PyArray_DIMS(a_c))
                   || s2s_ensure_output(&%(d_W_hid)s, 2, PyArray_DIMS(w_c))
                   || s2s_ensure_output(&%(d_state0)s, 2, PyArray_DIMS(s0_c))))
            ok = 0;
        const npy_intp gates = 4 * units, width = 2 * units;
        const float clip = %(clip)r;
        if (ok) {
            total = (float*) malloc((batch * width + 1) * sizeof(float));
            previous_h = (float*) malloc((batch * steps * units + 1) * sizeof(float));
            if (clip > 0.0f)
                clipped = (float*) malloc((batch * steps * gates + 1) * sizeof(float));
            if (!total || !previous_h || (clip > 0.0f && !clipped)) {
                PyErr_NoMemory();
                ok = 0;
            }
        }
        if (ok) {
            const int G = (int) gates, B = (int) batch, N = (int) units, W2 = (int) width;
            const int act_ld = (int) (steps * gates);
            const float one = 1.0f, zero = 0.0f;
            const float* w = (const float*) PyArray_DATA(w_c);
            const float* m = (const float*) PyArray_DATA(m_c);
            const float* s0 = (const float*) PyArray_DATA(s0_c);
            const float* s = (const float*) PyArray_DATA(s_c);
            const float* a = (const float*) PyArray_DATA(a_c);
            const float* ds = (const float*) PyArray_DATA(ds_c);
            float* dp = (float*) PyArray_DATA(%(d_projections)s);
            float* dw = (float*) PyArray_DATA(%(d_W_hid)s);
            // carry: the gradient reaching the state before the current step,
            // [dh, dc]; after step 0 it is the gradient of state0.
            float* carry = (float*) PyArray_DATA(%(d_state0)s);
            float* dg_all = clip > 0.0f ? clipped : dp;  // what the recurrent product sees
            memset(carry, 0, batch * width * sizeof(float));
            const int parallel = s2s_parallel() && batch * units >= 4096;
            for (npy_intp t = steps - 1; t >= 0; --t) {
                float* dgc = dg_all + t * gates;  // step t's rows, act_ld apart
                #pragma omp parallel for schedule(static) if (parallel)
                for (npy_intp b = 0; b < batch; ++b) {
                    const npy_intp row = b * steps + t;
                    float* tot = total + b * width;
                    float* car = carry + b * width;
                    float* d = dp + row * gates;
                    const float* d_current = ds + row * width;
                    #pragma omp simd
                    for (npy_intp k = 0; k < width; ++k)
                        tot[k] = d_current[k] + car[k];
                    if (m[row] == 0.0f) {  // the state was carried over
                        memset(d, 0, gates * sizeof(float));
                        if (clip > 0.0f)
                            memset(dgc + b * act_ld, 0, gates * sizeof(float));
                        memcpy(car, tot, width * sizeof(float));
                        continue;
                    }
                    const float* prev = t ? s + (row - 1) * width : s0 + b * width;
                    const float* cur = s + row * width;
                    const float* g = a + row * gates;
                    #pragma omp simd
                    for (npy_intp j = 0; j < units; ++j) {
                        float i_ = g[j], f_ = g[units + j], c_ = g[2 * units + j],
                              o_ = g[3 * units + j];
                        float dh = tot[j];
                        float tc = s2s_tanh(cur[units + j]);
                        float dc = tot[units + j] + dh * o_ * (1.0f - tc * tc);
                        d[j] = dc * c_ * i_ * (1.0f - i_);
                        d[units + j] = dc * prev[units + j] * f_ * (1.0f - f_);
                        d[2 * units + j] = dc * i_ * (1.0f - c_ * c_);
                        d[3 * units + j] = dh * tc * o_ * (1.0f - o_);
                        car[units + j] = dc * f_;
                        car[j] = 0.0f;
                    }
                    if (clip > 0.0f) {
                        float* dc_row = dgc + b * act_ld;
                        #pragma omp simd
                        for (npy_intp k = 0; k < gates; ++k)
                            dc_row[k] = d[k] > clip ? clip : (d[k] < -clip ? -clip : d[k]);
                    }
                }
                // carry_h (batch, units) += dgc (batch, gates) W_hid^T
                if (batch && units)
                    sgemm_((char*) "T", (char*) "N", &N, &B, &G, &one, (float*) w, &G, dgc,
                           &act_ld, &one, carry, &W2);
            }
            // d_W_hid = sum over examples and steps of h_previous^T dgc, one
            // product over a copy of every step's previous h (state0's first).
            #pragma omp parallel for schedule(static) if (parallel)
            for (npy_intp b = 0; b < batch; ++b) {
                memcpy(previous_h + b * steps * units, s0 + b * width, units * sizeof(float));
                for (npy_intp t = 1; t < steps; ++t)
                    memcpy(previous_h + (b * steps + t) * units, s + (b * steps + t - 1) * width,
                           units * sizeof(float));
            }
            const int rows = (int) (batch * steps);
            if (rows && units)
                sgemm_((char*) "N", (char*) "T", &G, &N, &rows, &one, dg_all, &G, previous_h, &N,
                       &zero, dw, &G);
            else
                memset(dw, 0, units * gates * sizeof(float));
        }
        free(total);
        free(clipped);
        free(previous_h);
        Py_XDECREF(w_c);
        Py_XDECREF(s0_c);
        Py_XDECREF(m_c);
        Py_XDECREF(s_c);
        Py_XDECREF(a_c);
        Py_XDECREF(ds_c);
        if (!ok) %(fail)s
        }
        """ % dict(locals(), clip=float(clip))


def lstm_sequence(projections, W_hid, state0, mask=None, grad_clipping=0.0):
    """Run the LSTM recurrence over batch-major input projections.

    Parameters
    ----------
    projections : Theano 3-tensor ``(batch, time, 4 units)``
        Each step's input times ``W_in`` plus bias (and context), gates
        ordered input, forget, cell, output.
    W_hid : Theano matrix ``(units, 4 units)``
    state0 : Theano matrix ``(batch, 2 units)``
        The initial ``[h, c]``.
    mask : Theano matrix ``(batch, time)``, optional
        Nonzero for real steps; at a masked step the state is carried over.
    grad_clipping : float
        Clip the gradient of the recurrent product to this value (0: off).

    Returns
    -------
    Theano 3-tensor ``(batch, time, 2 units)``
        The state ``[h, c]`` after every step.

    Examples
    --------
    >>> import numpy as np
    >>> p, w, s0 = T.ftensor3(), T.fmatrix(), T.fmatrix()
    >>> f = theano.function([p, w, s0], lstm_sequence(p, w, s0))
    >>> states = f(np.ones((2, 3, 4), "float32"), np.zeros((1, 4), "float32"),
    ...            np.zeros((2, 2), "float32"))
    >>> states.shape
    (2, 3, 2)
    >>> gate = 1 / (1 + np.exp(-1.0))  # every gate's pre-activation is 1
    >>> cell = gate * np.tanh(1.0)
    >>> np.allclose(states[:, 0, 1], cell) and np.allclose(states[:, 0, 0], gate * np.tanh(cell))
    True
    """
    if mask is None:
        mask = T.ones((projections.shape[0], projections.shape[1]), dtype="float32")
    return LSTMSequence(grad_clipping)(projections, W_hid, state0, mask)[0]
