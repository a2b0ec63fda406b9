"""C plumbing shared by the package's C ops.

:mod:`~lasagne_seq2seq.crossentropy`, :mod:`~lasagne_seq2seq.fused_lstm` and
:mod:`~lasagne_seq2seq.optimizers` write their inner loops in C for Theano
(``COp.c_code``), vectorised with ``#pragma omp simd``, and call the BLAS
Theano links (``blas__ldflags``) through Theano's own header.

Their loops run on OpenMP threads only where BLAS runs on the same (GNU)
OpenMP threads: MKL with ``MKL_THREADING_LAYER=GNU`` or OpenBLAS's OpenMP
build (Debian's ``libopenblas0-openmp``), which
:mod:`~lasagne_seq2seq.compat` links. Beside OpenBLAS's pthreads build,
whose threads spin for a while after every matrix product, OpenMP threads
waited for each other's time slices (up to 8 ms a call instead of 0.5 ms);
on one shared OpenMP pool they take turns with BLAS without waiting.
``s2s_parallel()`` asks the BLAS it is linked with (weak symbols), which
is why every op here links BLAS.

* :data:`C_HELPERS`: ``s2s_exp_nonpositive``, Cephes' ``expf`` for ``x <= 0``
  (range reduction by ``ln 2``, a degree-5 minimax polynomial, the exponent
  set by integer arithmetic; about 1 unit in the last place of float32),
  which vectorises where libm's ``expf`` does not; clamped at -87 where
  float32 would go subnormal (exp(-87) = 1.6e-38 is nothing next to the
  exp(0) = 1 of a row maximum or of ``1 + e`` in a sigmoid);
  ``s2s_parallel``; ``s2s_ensure_output`` (float32 outputs, reused between
  calls when their shape is unchanged) and ``s2s_contiguous_float``
  (contiguous inputs). Loops that may run on threads are ``omp parallel
  for`` around an ``omp simd`` loop: gcc 12 does not vectorise a combined
  ``parallel for simd`` loop whose ``if`` clause turns the threads off.
* :class:`BlasCOp`: the compiler flags, headers and libraries.
"""
from theano.graph.op import COp
from theano.tensor.blas import ldflags
from theano.tensor.blas_headers import blas_header_text

__all__ = ["C_HELPERS", "BlasCOp"]

C_HELPERS = r"""
static inline float s2s_exp_nonpositive(float x)
{
    x = x < -87.0f ? -87.0f : x;
    /* Round x / ln 2 to the nearest integer: adding and subtracting 1.5 * 2^23
       (exact for |x / ln 2| < 2^22) vectorises, floorf does not. */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { npy_int32 i; float f; } scale;  /* 2^n, built in the exponent bits */
    scale.i = ((npy_int32) n + 127) << 23;
    return p * scale.f;
}

/* OpenMP threads only where BLAS runs on the same OpenMP threads (see the
   module docstring): OpenBLAS's OpenMP build, or MKL on its GNU threading
   layer. Weak symbols: NULL when the BLAS is not that library. */
extern "C" int openblas_get_parallel(void) __attribute__((weak));
extern "C" int MKL_Get_Max_Threads(void) __attribute__((weak));
static int s2s_parallel(void)
{
    static int parallel = -1;
    if (parallel < 0) {
        const char* mkl_layer = getenv("MKL_THREADING_LAYER");
        parallel = (openblas_get_parallel != NULL && openblas_get_parallel() == 2)
                   || (MKL_Get_Max_Threads != NULL && mkl_layer != NULL
                       && strcasecmp(mkl_layer, "GNU") == 0);
    }
    return parallel;
}

/* Make *out a C-contiguous float32 array of the given shape (reused when it
   has it). */
static int s2s_ensure_output(PyArrayObject** out, int ndim, npy_intp* dims)
{
    int reusable = *out && PyArray_NDIM(*out) == ndim && PyArray_IS_C_CONTIGUOUS(*out);
    for (int k = 0; reusable && k < ndim; ++k)
        reusable = PyArray_DIMS(*out)[k] == dims[k];
    if (reusable)
        return 0;
    Py_XDECREF(*out);
    *out = (PyArrayObject*) PyArray_EMPTY(ndim, dims, NPY_FLOAT32, 0);
    return *out ? 0 : -1;
}

/* A C-contiguous float32 view of x: a new reference (x itself, or a copy). */
static PyArrayObject* s2s_contiguous_float(PyArrayObject* x)
{
    return (PyArrayObject*) PyArray_FROMANY((PyObject*) x, NPY_FLOAT32, 0, 0,
                                            NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED);
}
"""


class BlasCOp(COp):
    """A C op with :data:`C_HELPERS`, OpenMP and BLAS (``sgemm_``) as Theano's ``Gemm`` has it.

    With an empty ``blas__ldflags`` Theano's header defines ``sgemm_`` itself
    on NumPy, on non-const pointers: calls cast ``const`` away.
    """

    def c_headers(self, **kwargs):
        return ["<math.h>", "<stdlib.h>", "<string.h>", "<strings.h>"]

    def c_support_code(self, **kwargs):
        return blas_header_text() + C_HELPERS

    def c_libraries(self, **kwargs):
        return ldflags()

    def c_lib_dirs(self, **kwargs):
        return ldflags(libs=False, libs_dir=True)

    def c_header_dirs(self, **kwargs):
        return ldflags(libs=False, include_dir=True)

    def c_compile_args(self, **kwargs):
        return ldflags(libs=False, flags=True) + ["-fopenmp"]
