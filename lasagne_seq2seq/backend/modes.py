"""Which back end compiles the package's Theano functions: ``--backend {c,jax}``.

* ``c`` (the default): Theano's C linker and the package's C ops, on the CPU
  (or Theano's gpuarray GPU back end with ``--device cuda``, where pygpu is
  installed).
* ``jax``: theano-pymc's JAX linker (``mode="JAX"``), which hands the whole
  graph to XLA: the CPU, or an NVIDIA GPU with ``bash setup.sh --with-gpu``.
  The stack's fixes for it are :mod:`.compat` (item 8); the package's fused
  ops carry their own JAX implementations.

Every ``theano.function`` of the package passes ``mode=compile_mode()``, so
one call of :func:`select_backend` (a script's ``--backend``) chooses for all
of them; :func:`using_backend` chooses for a block (tests compare the two).
"""
import contextlib
import importlib.util

from lasagne_seq2seq.errors import Seq2SeqError

__all__ = ["BACKENDS", "select_backend", "current_backend", "compile_mode", "using_backend"]

#: The back ends ``--backend`` accepts.
BACKENDS = ("c", "jax")

#: Theano's compilation mode for each back end (None: Theano's default, ``config.mode``).
_MODES = {"c": None, "jax": "JAX"}

_backend = "c"


def select_backend(name):
    """Compile every later function of the package with back end ``name``.

    Parameters
    ----------
    name : str or None
        One of :data:`BACKENDS`; None keeps the current one.

    Raises
    ------
    Seq2SeqError
        For an unknown back end, or ``jax`` without jax installed.

    Examples
    --------
    >>> select_backend("c"); current_backend()
    'c'
    """
    global _backend
    if name is None:
        return
    if name not in BACKENDS:
        raise Seq2SeqError("--backend %s: choose among %s" % (name, ", ".join(BACKENDS)))
    if name == "jax" and importlib.util.find_spec("jax") is None:
        raise Seq2SeqError("--backend jax needs jax: bash setup.sh --with-jax "
                           "(--with-gpu on an NVIDIA GPU)")
    _backend = name


def current_backend():
    """The back end functions are compiled with now: ``"c"`` or ``"jax"``."""
    return _backend


def compile_mode():
    """The ``mode`` argument of ``theano.function`` for the current back end.

    Returns
    -------
    str or None
        ``"JAX"``, or None for Theano's default mode (the C back end).
    """
    return _MODES[_backend]


@contextlib.contextmanager
def using_backend(name):
    """Compile with back end ``name`` inside the block, then go back.

    Examples
    --------
    >>> with using_backend("c"):
    ...     compile_mode() is None
    True
    """
    previous = _backend
    select_backend(name)
    try:
        yield
    finally:
        select_backend(previous)
