"""The optimiser step: total-norm clipping and Adam as fused, in-place C ops.

Built from Theano's elementwise ops, one Adam step with clipping makes about
seven passes over every parameter-sized array: the encoder gate and the
clipping factor each multiply the gradient, squaring and summing it gives the
norm, and the two moments and the parameter are updated by three more. Four
of them write new arrays, and a new array the size of the paper preset's
embedding matrix (22,000 x 512) is fresh memory from the kernel every step:
together about 110 ms of a 513 ms training step at that size. Here:

* :class:`SumOfSquares` reads a gradient once for its part of the norm;
* :class:`AdamStep` reads the gradient, the two moments and the parameter
  once, with the gate and the clipping factor folded into one scalar, and
  writes the moments and the parameter in place;

the same arithmetic as ``lasagne.updates.total_norm_constraint`` followed by
``lasagne.updates.adam``, element by element. Like the cross-entropy ops
(:mod:`lasagne_seq2seq.crossentropy`) they are vectorised, and run on two
threads where BLAS shares them (:mod:`lasagne_seq2seq.cops`).

Graphs are built with the out-of-place :class:`AdamStep`, and importing this
module registers a rewrite (``adam_step_inplace``, Theano's "inplace" stage,
where its own ops become in-place) that makes it write in place once the
graph is optimised: a destructive op in the graph from the start would make
Theano check every one of the optimiser's thousands of rewrites for cycles
(the compile time of a default-size training step went from 12 to 38 s).
"""
import math
from collections import OrderedDict, namedtuple

import numpy as np

import theano
import theano.tensor as T
import lasagne
from theano.compile import optdb
from theano.graph.basic import Apply
from theano.graph.opt import TopoOptimizer, local_optimizer

from lasagne_seq2seq.nn.ops.cops import BlasCOp

__all__ = ["OPTIMIZERS", "Optimizer", "learning_rate_of", "scheduled_learning_rate",
           "budget_fraction", "clipped_updates", "SumOfSquares",
           "AdamStep"]

#: An optimiser: Lasagne's update rule and the learning rate it takes by default.
Optimizer = namedtuple("Optimizer", ["update", "default_learning_rate"])

#: Every ``--optimizer`` name (:data:`lasagne_seq2seq.config.OPTIMIZER_NAMES`
#: lists the same names). float32 Adam runs as the fused ops of this module.
OPTIMIZERS = {
    "adam": Optimizer(lasagne.updates.adam, 0.001),
    "adadelta": Optimizer(lasagne.updates.adadelta, 1.0),  # Zeiler 2012's rate
}


def learning_rate_of(train_config):
    """The learning rate a run trains at: its own, else its optimiser's default.

    Parameters
    ----------
    train_config : TrainConfig

    Returns
    -------
    float

    Examples
    --------
    >>> from lasagne_seq2seq.config import TrainConfig
    >>> learning_rate_of(TrainConfig(optimizer="adadelta"))
    1.0
    >>> learning_rate_of(TrainConfig(optimizer="adadelta", learning_rate=0.5))
    0.5
    """
    if train_config.learning_rate is not None:
        return train_config.learning_rate
    return OPTIMIZERS[train_config.optimizer].default_learning_rate


def budget_fraction(train_config, step, epochs_done, seconds):
    """How much of a run's budget is spent: the largest share of its limits.

    Parameters
    ----------
    train_config : TrainConfig
        The limits: ``max_steps``, ``max_minutes`` and ``epochs`` (0 is no limit).
    step : int
        Updates done.
    epochs_done : float
        Passes over the training pairs done, fractions included.
    seconds : float
        Training time so far, resumes included.

    Returns
    -------
    float
        In [0, 1]; 1 once any limit is reached.

    Examples
    --------
    >>> from lasagne_seq2seq.config import TrainConfig
    >>> budget_fraction(TrainConfig(epochs=10, max_steps=100), 25, 1.0, 0.0)
    0.25
    """
    shares = [epochs_done / train_config.epochs]
    if train_config.max_steps:
        shares.append(step / train_config.max_steps)
    if train_config.max_minutes:
        shares.append(seconds / (60.0 * train_config.max_minutes))
    return min(1.0, max(shares))


def scheduled_learning_rate(train_config, step, fraction):
    """The learning rate of the next update under ``--lr-schedule``.

    Parameters
    ----------
    train_config : TrainConfig
        ``lr_schedule``, ``warmup_steps`` and the peak rate
        (:func:`learning_rate_of`).
    step : int
        Updates done before this one.
    fraction : float
        The share of the budget spent (:func:`budget_fraction`).

    Returns
    -------
    float
        The peak rate times the warm-up's ramp (``(step + 1) / warmup_steps``
        until it reaches 1) times the schedule's factor: 1 (constant),
        ``1 - fraction`` (linear) or ``(1 + cos(pi * fraction)) / 2`` (cosine).

    Examples
    --------
    >>> from lasagne_seq2seq.config import TrainConfig
    >>> config = TrainConfig(lr_schedule="linear", learning_rate=0.002, warmup_steps=4)
    >>> round(scheduled_learning_rate(config, 1, 0.0), 6)
    0.001
    >>> round(scheduled_learning_rate(config, 500, 0.75), 6)
    0.0005
    """
    rate = learning_rate_of(train_config)
    if train_config.warmup_steps:
        rate *= min(1.0, (step + 1.0) / train_config.warmup_steps)
    if train_config.lr_schedule == "linear":
        rate *= 1.0 - fraction
    elif train_config.lr_schedule == "cosine":
        rate *= 0.5 * (1.0 + math.cos(math.pi * fraction))
    return rate

#: Lasagne's ``total_norm_constraint`` divides by ``norm + 1e-7``.
_NORM_EPSILON = 1e-7


class _FusedOp(BlasCOp):
    def c_code_cache_version(self):
        # Theano finds compiled code by this version: change it with the C code.
        return (6,)


class SumOfSquares(_FusedOp):
    """``x -> sum(x ** 2)`` for a float32 array of any shape, summed in
    double precision in one pass (a float32 scalar out).

    Examples
    --------
    >>> x = T.fmatrix()
    >>> f = theano.function([x], SumOfSquares()(x))
    >>> float(f(np.array([[3, 4]], "float32")))
    25.0
    """
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        if x.dtype != "float32":
            raise TypeError("SumOfSquares needs float32 input, not %s" % x.dtype)
        return Apply(self, [x], [T.fscalar()])

    def perform(self, node, inputs, outputs):
        x, = inputs
        outputs[0][0] = np.asarray(np.sum(np.square(x, dtype=np.float64)), dtype=np.float32)

    def jax_funcify(self):
        """This op for theano-pymc's JAX linker (``--backend jax``): a float32 sum,
        as reductions are there (:mod:`lasagne_seq2seq.backend.compat`, item 8)."""
        import jax.numpy as jnp
        return lambda x: jnp.sum(jnp.square(x))

    def infer_shape(self, fgraph, node, shapes):
        return [()]

    def grad(self, inputs, output_grads):
        x, = inputs
        return [2 * x * output_grads[0]]

    def c_code(self, node, name, inputs, outputs, sub):
        x, = inputs
        out, = outputs
        fail = sub["fail"]
        return r"""
        {
        PyArrayObject* x_c = PyArray_GETCONTIGUOUS(%(x)s);  // a new reference
        if (!x_c) %(fail)s
        const float* data = (const float*) PyArray_DATA(x_c);
        npy_intp n = PyArray_SIZE(x_c);
        double sum = 0.0;
        const npy_intp block = 16384;
        #pragma omp parallel for reduction(+:sum) schedule(static) \
            if (s2s_parallel() && n >= 2 * block)
        for (npy_intp start = 0; start < n; start += block) {
            const npy_intp end = start + block < n ? start + block : n;
            double part = 0.0;
            #pragma omp simd reduction(+:part)
            for (npy_intp i = start; i < end; ++i)
                part += (double) data[i] * data[i];
            sum += part;
        }
        Py_DECREF(x_c);
        if (!%(out)s || PyArray_NDIM(%(out)s) != 0) {
            Py_XDECREF(%(out)s);
            %(out)s = (PyArrayObject*) PyArray_EMPTY(0, NULL, NPY_FLOAT32, 0);
            if (!%(out)s) %(fail)s
        }
        *(float*) PyArray_DATA(%(out)s) = (float) sum;
        }
        """ % locals()


class AdamStep(_FusedOp):
    """``(param, m, v, grad, scale, step) -> (param', m', v')``.

    With ``g = scale * grad``: ``m' = beta1 m + (1 - beta1) g``,
    ``v' = beta2 v + (1 - beta2) g^2``, ``param' = param - step m' /
    (sqrt(v') + epsilon)``, where ``step`` is Adam's bias-corrected step size
    ``lr sqrt(1 - beta2^t) / (1 - beta1^t)``.

    Parameters
    ----------
    beta1, beta2, epsilon : float
        Adam's constants.
    inplace : bool
        Overwrite ``param``, ``m`` and ``v`` (the outputs are those arrays);
        the ``adam_step_inplace`` rewrite sets it where Theano allows.
    """
    __props__ = ("beta1", "beta2", "epsilon", "inplace")

    def __init__(self, beta1=0.9, beta2=0.999, epsilon=1e-8, inplace=False):
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.inplace = inplace
        if inplace:
            self.destroy_map = {0: [0], 1: [1], 2: [2]}

    def make_node(self, param, m, v, grad, scale, step):
        param, m, v, grad = (T.as_tensor_variable(x) for x in (param, m, v, grad))
        scale, step = (T.cast(T.as_tensor_variable(x), "float32") for x in (scale, step))
        arrays = (param, m, v, grad)
        if any(x.dtype != "float32" for x in arrays) or len({x.ndim for x in arrays}) != 1 \
                or scale.ndim or step.ndim:
            raise TypeError("AdamStep needs float32 param, m, v and grad of one shape "
                            "and scalar scale and step")
        return Apply(self, [param, m, v, grad, scale, step],
                     [param.type(), m.type(), v.type()])

    def perform(self, node, inputs, outputs):
        param, m, v, grad, scale, step = inputs
        if not self.inplace:
            param, m, v = param.copy(), m.copy(), v.copy()
        g = np.float32(scale) * grad
        m *= np.float32(self.beta1)
        m += np.float32(1 - self.beta1) * g
        v *= np.float32(self.beta2)
        v += np.float32(1 - self.beta2) * g * g
        param -= np.float32(step) * m / (np.sqrt(v) + np.float32(self.epsilon))
        for storage, value in zip(outputs, (param, m, v)):
            storage[0] = value

    def jax_funcify(self):
        """This op for theano-pymc's JAX linker (``--backend jax``); in place or
        not is the same there (XLA reuses the buffers)."""
        import jax.numpy as jnp

        def adam_step(param, m, v, grad, scale, step):
            g = scale * grad
            m = self.beta1 * m + (1 - self.beta1) * g
            v = self.beta2 * v + (1 - self.beta2) * g * g
            return param - step * m / (jnp.sqrt(v) + self.epsilon), m, v
        return adam_step

    def infer_shape(self, fgraph, node, shapes):
        return shapes[:3]

    def c_code(self, node, name, inputs, outputs, sub):
        param, m, v, grad, scale, step = inputs
        param_out, m_out, v_out = outputs
        fail = sub["fail"]
        beta1, beta2, epsilon = self.beta1, self.beta2, self.epsilon
        if self.inplace:
            outputs_are_inputs = "\n".join(
                "Py_XDECREF(%s); %s = %s; Py_INCREF(%s);" % (out, out, inp, out)
                for out, inp in zip(outputs, (param, m, v)))
        else:  # copies, updated below
            outputs_are_inputs = "\n".join(
                "Py_XDECREF(%s); %s = (PyArrayObject*) PyArray_NewCopy(%s, NPY_CORDER); "
                "if (!%s) %s" % (out, out, inp, out, fail)
                for out, inp in zip(outputs, (param, m, v)))
        return r"""
        {
        npy_intp n = PyArray_SIZE(%(param)s);
        if (PyArray_SIZE(%(m)s) != n || PyArray_SIZE(%(v)s) != n
                || PyArray_SIZE(%(grad)s) != n) {
            PyErr_SetString(PyExc_ValueError, "AdamStep: param, m, v and grad differ in size");
            %(fail)s
        }
        if (!PyArray_IS_C_CONTIGUOUS(%(param)s) || !PyArray_IS_C_CONTIGUOUS(%(m)s)
                || !PyArray_IS_C_CONTIGUOUS(%(v)s)) {
            PyErr_SetString(PyExc_ValueError, "AdamStep: param, m and v must be contiguous");
            %(fail)s
        }
        %(outputs_are_inputs)s
        PyArrayObject* g_c = PyArray_GETCONTIGUOUS(%(grad)s);  // a new reference
        if (!g_c) %(fail)s
        const float* g = (const float*) PyArray_DATA(g_c);
        float* p = (float*) PyArray_DATA(%(param_out)s);
        float* m1 = (float*) PyArray_DATA(%(m_out)s);
        float* m2 = (float*) PyArray_DATA(%(v_out)s);
        const float scale = *(const float*) PyArray_DATA(%(scale)s);
        const float step = *(const float*) PyArray_DATA(%(step)s);
        const float beta1 = %(beta1)r, beta2 = %(beta2)r, epsilon = %(epsilon)r;
        const float one_minus_beta1 = 1.0f - beta1, one_minus_beta2 = 1.0f - beta2;
        const npy_intp block = 16384;
        #pragma omp parallel for schedule(static) if (s2s_parallel() && n >= 2 * block)
        for (npy_intp start = 0; start < n; start += block) {
            const npy_intp end = start + block < n ? start + block : n;
            #pragma omp simd
            for (npy_intp i = start; i < end; ++i) {
                float gi = scale * g[i];
                float mi = beta1 * m1[i] + one_minus_beta1 * gi;
                float vi = beta2 * m2[i] + one_minus_beta2 * (gi * gi);
                m1[i] = mi;
                m2[i] = vi;
                p[i] = p[i] - (step * mi) / (sqrtf(vi) + epsilon);
            }
        }
        Py_DECREF(g_c);
        }
        """ % locals()


@local_optimizer([AdamStep], inplace=True)
def adam_step_inplace(fgraph, node):
    """Make an :class:`AdamStep` overwrite its parameter and moments."""
    op = node.op
    if isinstance(op, AdamStep) and not op.inplace:
        return AdamStep(op.beta1, op.beta2, op.epsilon, inplace=True)(*node.inputs)
    return False


# Position 60: with Theano's own in-place rewrites, after its destroy handler.
optdb.register("adam_step_inplace",
               TopoOptimizer(adam_step_inplace, failure_callback=TopoOptimizer.warn_inplace),
               60, "fast_run", "inplace")


def clipped_updates(grads, params, optimizer="adam", learning_rate=0.001, max_norm=None,
                    grad_scales=None):
    """An optimiser step on gradients scaled, then clipped to a total norm.

    The same update as scaling each gradient by its ``grad_scales`` entry,
    then ``lasagne.updates.total_norm_constraint(grads, max_norm)``, then
    ``lasagne.updates.adam`` (or ``adadelta``); for float32 Adam with the
    fused ops of this module.

    Parameters
    ----------
    grads : list of Theano expressions
        One gradient per parameter.
    params : list of shared variables
    optimizer : {"adam", "adadelta"}
    learning_rate : float or Theano scalar
    max_norm : float, optional
        Clip the scaled gradients to this total norm (none when omitted).
    grad_scales : list of (float or Theano scalar), optional
        A factor per gradient (the trainer's encoder gate); ones by default.

    Returns
    -------
    updates : OrderedDict
        Parameters and the optimiser's accumulators to their new values, in
        Lasagne's order (each parameter's accumulators, then the parameter;
        Adam's step counter last).
    norm : Theano scalar
        The total norm of the scaled gradients before clipping.

    Examples
    --------
    >>> w = theano.shared(np.float32([1.0, 2.0]))
    >>> updates, norm = clipped_updates([T.constant(np.float32([3.0, 4.0]))], [w],
    ...                                 max_norm=1.0)
    >>> f = theano.function([], norm, updates=updates)
    >>> float(f()), [round(float(x), 4) for x in w.get_value()]
    (5.0, [0.999, 1.999])
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError("unknown optimizer %r: choose one of %s"
                         % (optimizer, ", ".join(OPTIMIZERS)))
    grad_scales = list(grad_scales) if grad_scales is not None else [1.0] * len(grads)
    fused = optimizer == "adam" and all(g.dtype == "float32" for g in grads)
    squares = [SumOfSquares()(g) if fused else T.sum(T.sqr(g)) for g in grads]
    norm = T.sqrt(sum(T.sqr(s) * q for s, q in zip(grad_scales, squares)))
    clip = 1.0
    if max_norm:
        clip = T.clip(norm, 0, max_norm) / (_NORM_EPSILON + norm)
    if not fused:
        scaled = [g * (s * clip) for g, s in zip(grads, grad_scales)]
        return OPTIMIZERS[optimizer].update(scaled, params, learning_rate=learning_rate), norm
    return _fused_adam(grads, params, [s * clip for s in grad_scales], learning_rate), norm


def _fused_adam(grads, params, scales, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Lasagne's Adam (same constants, accumulators and order) with one
    :class:`AdamStep` per parameter."""
    t_prev = theano.shared(lasagne.utils.floatX(0.0))
    t = t_prev + 1
    step = learning_rate * T.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    op = AdamStep(beta1, beta2, epsilon)
    updates = OrderedDict()
    for param, grad, scale in zip(params, grads, scales):
        value = param.get_value(borrow=True)
        m = theano.shared(np.zeros(value.shape, dtype=value.dtype),
                          broadcastable=param.broadcastable)
        v = theano.shared(np.zeros(value.shape, dtype=value.dtype),
                          broadcastable=param.broadcastable)
        new_param, new_m, new_v = op(param, m, v, grad, scale, step)
        updates[m], updates[v], updates[param] = new_m, new_v, new_param
    updates[t_prev] = t
    return updates
