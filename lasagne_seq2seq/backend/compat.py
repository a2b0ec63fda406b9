"""Make theano-pymc 1.1.2 and Lasagne 0.1 work on Python 3.11 and NumPy 1.23.

Every work-around the stack needs lives here, and nowhere else.
``import lasagne_seq2seq`` calls :func:`install`, which prepares the process
without importing Theano: after it, ``import lasagne`` and ``import theano``
work in any order (Theano is patched by an import hook on its way in). A
script that imports Theano itself must ``import lasagne_seq2seq`` first, or
Theano keeps its own flags (the patches are still applied).

What it does, in order:

1. Checks the NumPy pin: theano-pymc uses ``np.bool`` and friends, which NumPy
   1.24 removed. A clear error names the fix instead of a deep traceback.
2. Disables theano-pymc's Cython scan extension, which does not compile on
   Python 3.11: with ``theano.scan.scan_perform_ext`` set to ``None`` in
   ``sys.modules`` scan falls back to its Python loop (the inner graph is still
   compiled C).
3. Builds default ``THEANO_FLAGS``: ``floatX=float32``, a BLAS named
   explicitly (:func:`blas_ldflags`: the one ``setup.sh`` timed fastest on
   this machine, :mod:`lasagne_seq2seq.train.blas_choice`; unmeasured, MKL
   on GNU OpenMP threads, else OpenBLAS, its OpenMP build where installed,
   else NumPy's C-API BLAS;
   numpy.distutils no longer reports ``blas_opt_info``, and Theano would
   otherwise fall back to slow Python BLAS with a warning), the compile
   cache in the user's cache
   directory, and the speed settings measured in ``bench/``. Flags the user
   set in ``THEANO_FLAGS`` always win. A GPU asked for there without pygpu
   (Theano's GPU back end) is refused with the fix, the message of
   ``--device cuda``: Theano would log a traceback and run on the CPU.
4. Silences three messages users cannot act on: setuptools' "pkg_resources
   is deprecated" warning, which Lasagne 0.1's import triggers on every
   start; theano-pymc's log of a failed graph rewrite (``PushOutScanOutput``
   raises "Trying to reintroduce a removed node" on masked scans): Theano
   skips the rewrite and the compiled function is correct, but the traceback
   looks like a crash to users; and, with MKL, Theano's "We did not find a
   dynamic library ... ATLAS" warning, which looks for a file ending in
   ``.so`` and so misses PyPI's ``libmkl_rt.so.3`` that links and runs.
5. Resolves the old Theano names that Lasagne 0.1, its own test suite
   (``bench/lasagne_suite.py``) and code of its time use, which theano-pymc
   renamed or dropped (:func:`_alias_lasagne_imports`). Each old module is a
   module of its own, importable by its old name, that forwards attribute
   look-ups to the new one:

   * ``theano.sandbox.rng_mrg.MRG_RandomStreams``: ``MRG_RandomStream``
     (Lasagne's dropout);
   * ``theano.tensor.signal.downsample``: ``theano.tensor.signal.pool``, plus
     Theano 0.7's ``max_pool_2d(input, ds, ignore_border, st, padding, mode)``
     as :func:`max_pool_2d` (``pool_2d`` with ``ws``, ``stride`` and ``pad``):
     every pooling layer of Lasagne (``MaxPool1DLayer``, ``Pool2DLayer``,
     ``MaxPool2DLayer``) calls it, so a CNN with them failed to build;
   * ``theano.gof``: ``theano.graph`` (``basic``, ``op``, ``fg``, ``type``,
     ``toolbox``, ``utils``); Lasagne's ``get_output`` needs
     ``theano.gof.Variable`` to accept expressions as inputs. ``theano.gof.graph``
     is ``theano.graph.basic`` with ``is_same_graph`` (now in
     ``theano.graph.toolbox``; Lasagne's objectives tests compare graphs
     with it) and ``inputs`` (now ``graph_inputs``, a generator: a list, as before);
   * ``theano.Variable``: ``theano.graph.basic.Variable`` (the old top-level name);
   * ``theano.scan_module`` and its ``scan_utils``, ``scan_op``, ``scan_opt``,
     ``scan_views`` and ``scan_checkpoints``: ``theano.scan`` and its
     ``utils``, ``op``, ``opt``, ``views`` and ``checkpoints``
     (Lasagne's regularization tests import ``equal_computations`` from it);
   * ``theano.sandbox.cuda`` and ``theano.sandbox.cuda.dnn``: Theano's old
     CUDA back end, which theano-pymc does not have (its GPU back end is
     ``theano.gpuarray``), as it looked on a machine without CUDA:
     ``cuda_available`` is False and ``dnn.dnn_available()`` returns False,
     so Lasagne's cuDNN layers (``lasagne.layers.dnn``) refuse to import with
     their own ``ImportError("dnn not available")``, which is what Lasagne
     and its users catch. Its other modules (``basic_ops``, ``blas``) stay
     missing: ``lasagne.layers.corrmm`` and ``cuda_convnet`` raise
     ``ImportError`` too.
6. Makes ``openmp=True`` compile: theano-pymc 1.1.2 writes the OpenMP pragma
   of contiguous elementwise loops from a string that lacks its ``f`` prefix,
   so the C code reads ``if(n>={int(config.openmp_elemwise_minsize)})`` and
   does not compile. The generated code gets the value substituted (only
   while the installed Theano still has the bug). ``OMP_WAIT_POLICY=PASSIVE``
   (unless the user set it, or BLAS is MKL or OpenBLAS's OpenMP build, which
   share the OpenMP threads) lets idle OpenMP threads sleep instead of
   spinning against OpenBLAS's pthreads on the same cores.
7. Raises Python's recursion limit to :data:`RECURSION_LIMIT`: ``theano.grad``
   and the graph rewrites recurse once per node along a path, and an unrolled
   bidirectional attention model of 15 steps (the default length) is deeper
   than Python's default 1,000 frames allow (``RecursionError``).
8. Makes theano-pymc's JAX linker (``mode="JAX"``, the ``--backend jax`` of
   :mod:`.modes`) work with the pinned jax 0.4.30 (``requirements-jax.txt``),
   when ``theano.link.jax.jax_dispatch`` is imported (:func:`_patch_jax`):

   * a whole graph becomes *one* jitted function that walks the nodes in
     topological order (:func:`jax_graph_function`). theano-pymc composes one
     function per output by recursing from it, which traces a value once per
     path that reaches it (exponential in an unrolled recurrence) and jits
     every output separately (the loss and each gradient recomputed);
   * nodes whose inputs are all known while tracing (shapes and what is
     computed from them) run their NumPy ``perform`` instead, so that
     ``Alloc``, ``Reshape`` and slices get the concrete sizes XLA needs (the
     job omnistaging, which JAX no longer lets one disable, used to do);
   * ``IncSubtensor`` and friends use ``x.at[i].set/add`` (``jax.ops.index_update``
     and ``index_add`` are gone);
   * a reduction with a float64 accumulator over float32 (``Sum`` of the C
     back end, whose loops accumulate in double) accumulates in its output
     type: JAX keeps 64-bit types off unless ``jax_enable_x64``, which would
     make every integer and default float of the process 64-bit and run
     float64 on GPUs (many times slower); XLA reduces pairwise, so float32
     sums stay within the tests' 1e-4 of the C back end;
   * Theano's fused softmax cross-entropy (``CrossentropySoftmaxArgmax1HotWithBias``
     and its gradient ``CrossentropySoftmax1HotWithBiasDx``), which Theano's
     rewrites make of sampled softmax's loss, get JAX implementations;
   * ``theano.scan`` (``Scan``) becomes one ``lax.scan`` that leaves its
     outputs as ``Scan.perform`` does, every kind of loop state included
     (:func:`_scan_jax`): theano-pymc's own handles one kind of state at a
     time and none of the ``mit_mot`` states a scan's gradient has;
   * a product of a transposed matrix (``dot(h, E.T)``, a tied output
     layer) is one ``dot_general`` on the matrix itself, and each shared
     variable's device copy is kept between calls (:func:`_create_jax_thunks`);
   * ``Op`` subclasses without a registered implementation get theirs from
     their own ``jax_funcify()`` method: the package's fused ops carry their
     JAX implementations beside their C code, and imports still point down;
   * outputs come back as NumPy arrays, as from the C back end (callers
     write into them); JAX's warnings about the 64-bit types Theano asks for
     (``int64`` shapes and indices, which become ``int32``) are silenced.
"""
import functools
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import sysconfig
import warnings

from lasagne_seq2seq.errors import pygpu_missing

__all__ = ["NUMPY_REQUIREMENT", "default_theano_flags", "merge_theano_flags",
           "gpu_settings", "linker_directories", "openblas_available", "blas_candidates",
           "blas_ldflags", "BLAS_RECORD",
           "MKL_RUNTIME", "cache_dir", "max_pool_2d"]

NUMPY_REQUIREMENT = "numpy==1.23.5"


class StackError(RuntimeError):
    """The installed stack cannot run theano-pymc; the message says the fix."""


def _check_numpy():
    import numpy
    major, minor = (int(part) for part in numpy.__version__.split(".")[:2])
    if (major, minor) >= (1, 24):
        raise StackError(
            "numpy %s is installed but theano-pymc 1.1.2 needs numpy<1.24 "
            "(it uses np.bool): run `bash setup.sh`, or "
            "`pip install %s 'scipy<1.12'`" % (numpy.__version__, NUMPY_REQUIREMENT))


def linker_directories():
    """The directories the C compiler's linker searches for ``-lNAME``.

    ``LIBRARY_PATH`` first (as gcc does), then the system's library
    directories, Debian's multiarch ones included.

    Returns
    -------
    list of str
    """
    multiarch = sysconfig.get_config_var("MULTIARCH")
    system = ["/usr/local/lib", "/lib", "/usr/lib", "/lib64", "/usr/lib64"]
    if multiarch:
        system = [os.path.join(d, multiarch) for d in system[:3]] + system
    user = [d for d in os.environ.get("LIBRARY_PATH", "").split(os.pathsep) if d]
    return user + system


def openblas_available(directories=None):
    """Return True when ``-lopenblas`` can link: ``libopenblas.so`` exists.

    The runtime package (Debian's ``libopenblas0``) installs only the
    versioned ``libopenblas.so.0``, which the dynamic loader (and
    ``ctypes.util.find_library``) finds but the linker does not; the
    unversioned name comes with ``libopenblas-dev``. Theano would fail to
    link its first compiled module with ``-lopenblas`` and no such file.

    Parameters
    ----------
    directories : list of str, optional
        Where to look; :func:`linker_directories` by default.

    Returns
    -------
    bool
        True if one of ``directories`` holds a ``libopenblas.so`` that
        resolves to a file (a dangling symbolic link does not count).
    """
    if directories is None:
        directories = linker_directories()
    return any(os.path.isfile(os.path.join(d, "libopenblas.so")) for d in directories)


#: MKL's single dynamic library, as PyPI's ``mkl`` installs it (no unversioned name).
MKL_RUNTIME = "libmkl_rt.so.3"


#: Where ``setup.sh`` records the BLAS it measured fastest on this machine
#: (:mod:`lasagne_seq2seq.train.blas_choice`): in the environment whose
#: libraries it names.
BLAS_RECORD = "blas.json"


def blas_candidates(directories=None, prefix=sys.prefix):
    """The BLAS libraries the linker can find, each as its ``blas__ldflags``.

    MKL from PyPI in the environment (``requirements-mkl.txt``), on GNU
    OpenMP threads (``MKL_THREADING_LAYER=GNU``, set by this module); then
    OpenBLAS's OpenMP build (Debian's ``libopenblas-openmp-dev``, in an
    ``openblas-openmp`` subdirectory). On either, the package's C ops run
    their loops on the same OpenMP threads as the matrix products
    (:mod:`lasagne_seq2seq.nn.ops.cops`). Both are linked with a run path
    (for OpenBLAS because the loader's ``libopenblas.so.0`` is whichever
    build Debian's alternatives chose, the pthreads one when both are
    installed); ``-Xlinker -R`` rather than ``-Wl,-rpath,``, because
    ``THEANO_FLAGS`` splits on commas and Theano wants every token to start
    with a dash. Then any ``libopenblas.so`` (``-lopenblas``), when there is
    no OpenMP build.

    Parameters
    ----------
    directories : list of str, optional
        Where to look for OpenBLAS; :func:`linker_directories` by default.
    prefix : str
        The environment whose ``lib`` may hold MKL (``sys.prefix``).

    Returns
    -------
    dict
        Name (``mkl``, ``openblas-openmp``, ``openblas``) to flags, in that
        order of preference.

    Examples
    --------
    >>> blas_candidates([], prefix="/nonexistent")
    {}
    """
    found = {}
    mkl = os.path.join(prefix, "lib")
    if os.path.isfile(os.path.join(mkl, MKL_RUNTIME)):
        found["mkl"] = "-L%s -Xlinker -R%s -l:%s" % (mkl, mkl, MKL_RUNTIME)
    if directories is None:
        directories = linker_directories()
    for directory in directories:
        openmp = os.path.join(directory, "openblas-openmp")
        if openblas_available([openmp]):
            found["openblas-openmp"] = "-L%s -Xlinker -R%s -lopenblas" % (openmp, openmp)
            break
    else:
        if openblas_available(directories):
            found["openblas"] = "-lopenblas"
    return found


def blas_ldflags(directories=None, prefix=sys.prefix):
    """Return the ``blas__ldflags`` Theano links.

    The choice ``setup.sh`` measured and recorded in ``prefix``'s
    :data:`BLAS_RECORD` (:mod:`lasagne_seq2seq.train.blas_choice`), while
    that library is still there; else the first of :func:`blas_candidates`;
    else an empty string, Theano's NumPy C-API BLAS (several times slower).

    Parameters
    ----------
    directories : list of str, optional
        Where to look for OpenBLAS; :func:`linker_directories` by default.
    prefix : str
        The environment (``sys.prefix``).

    Returns
    -------
    str

    Examples
    --------
    >>> blas_ldflags([], prefix="/nonexistent")
    ''
    """
    import json
    candidates = blas_candidates(directories, prefix)
    try:
        with open(os.path.join(prefix, BLAS_RECORD)) as record:
            choice = json.load(record).get("choice")
    except (OSError, ValueError, AttributeError):
        choice = None
    if choice in candidates:
        return candidates[choice]
    return next(iter(candidates.values()), "")


def cache_dir():
    """Return the directory for this package's caches (Theano's compiled code).

    Follows ``XDG_CACHE_HOME``; outside the clone, so that reruns and CI reuse
    compiled modules and ``git clean`` does not throw them away.

    Returns
    -------
    str
        ``$XDG_CACHE_HOME/lasagne_seq2seq`` or ``~/.cache/lasagne_seq2seq``.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lasagne_seq2seq")


def default_theano_flags():
    """Return the package's default Theano flags as an ordered dict.

    Returns
    -------
    dict
        Flag name to value, in the syntax of ``THEANO_FLAGS``.
    """
    flags = {
        "floatX": "float32",
        # numpy.distutils no longer reports blas_opt_info: name BLAS ourselves.
        "blas__ldflags": blas_ldflags(),
        "base_compiledir": os.path.join(cache_dir(), "theano"),
        # Keep intermediate buffers between calls: fewer allocations per step.
        "allow_gc": "False",
        # With this rewrite Adam's update graph computes the output layer's
        # gradient twice (measured: bench/README.md).
        "optimizer_excluding": "local_dot22_to_dot22scalar",
        "warn_float64": "ignore",
    }
    return flags


def merge_theano_flags(defaults, user_flags):
    """Merge default flags with a user's ``THEANO_FLAGS`` string.

    Parameters
    ----------
    defaults : dict
        Default flag values.
    user_flags : str
        The user's ``THEANO_FLAGS`` (comma-separated ``name=value``); its
        values win over the defaults. ``.`` and ``__`` spellings are the same.

    Returns
    -------
    str
        The merged ``THEANO_FLAGS`` string.

    Examples
    --------
    >>> merge_theano_flags({"floatX": "float32"}, "floatX=float64,device=cpu")
    'floatX=float64,device=cpu'
    """
    merged = dict(defaults)
    for item in filter(None, (part.strip() for part in user_flags.split(","))):
        name, _, value = item.partition("=")
        name = name.strip().replace(".", "__")
        merged.pop(name, None)
        merged[name] = value.strip()
    return ",".join("%s=%s" % item for item in merged.items())


#: Theano device names that need its GPU back end (pygpu).
GPU_DEVICE_PREFIXES = ("cuda", "opencl")


def gpu_settings(theano_flags):
    """The settings of a ``THEANO_FLAGS`` string that put Theano on a GPU.

    Parameters
    ----------
    theano_flags : str
        Comma-separated ``name=value``, each name once (as
        :func:`merge_theano_flags` returns them).

    Returns
    -------
    list of str
        ``name=value`` of ``device`` and ``init_gpu_device`` when they name a
        GPU, and of ``contexts`` when it maps a context to one.

    Examples
    --------
    >>> gpu_settings("floatX=float32,device=cuda0,contexts=dev0->cuda0;dev1->cuda1")
    ['device=cuda0', 'contexts=dev0->cuda0;dev1->cuda1']
    >>> gpu_settings("device=cpu,init_gpu_device=")
    []
    """
    found = []
    for item in filter(None, (part.strip() for part in theano_flags.split(","))):
        name, _, value = (piece.strip() for piece in item.partition("="))
        name = name.replace(".", "__")
        if name == "contexts":
            devices = [entry.partition("->")[2].strip() for entry in value.split(";")]
        else:
            devices = [value] if name in ("device", "init_gpu_device") else []
        if any(device.startswith(GPU_DEVICE_PREFIXES) for device in devices):
            found.append("%s=%s" % (name, value))
    return found


def _check_gpu_backend(theano_flags):
    """Refuse a GPU without pygpu. Theano itself logs a traceback and quietly
    runs on the CPU, many times slower than the GPU that was asked for."""
    requested = gpu_settings(theano_flags)
    if requested and importlib.util.find_spec("pygpu") is None:
        raise pygpu_missing("THEANO_FLAGS %s" % requested[0],
                            "THEANO_FLAGS=device=cpu (or --device cpu)")


def _configure_theano():
    if "theano" in sys.modules:
        return  # Too late to change flags; Theano keeps what it was given.
    flags = merge_theano_flags(default_theano_flags(), os.environ.get("THEANO_FLAGS", ""))
    os.environ["THEANO_FLAGS"] = flags
    if MKL_RUNTIME in flags:
        # MKL on libgomp's threads, which the package's C ops share
        # (lasagne_seq2seq.cops); read when MKL starts.
        os.environ.setdefault("MKL_THREADING_LAYER", "GNU")
    if "openmp=true" in flags.lower().split(",") and "openblas-openmp" not in flags \
            and MKL_RUNTIME not in flags:
        # Idle OpenMP threads sleep instead of spinning against OpenBLAS's
        # pthreads; read once, when the OpenMP runtime loads. (OpenBLAS's
        # OpenMP build shares the threads: sleeping would only slow it.)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # The Cython scan extension fails to build on Python 3.11; None in
    # sys.modules makes Theano's import fail fast and use the Python loop.
    sys.modules.setdefault("theano.scan.scan_perform_ext", None)


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """Theano 0.7's ``theano.tensor.signal.downsample.max_pool_2d`` (item 5).

    theano-pymc's ``pool_2d`` under the old argument names: ``ds`` is ``ws``,
    ``st`` is ``stride`` and ``padding`` is ``pad``; ``ignore_border=None``
    means False, as in Theano 0.7. (``pool_2d`` itself still takes the old
    names, with a ``DeprecationWarning`` each.)

    Parameters
    ----------
    input : theano tensor, 2-d or more
        Pooled over its last two dimensions.
    ds : pair of int
        The pooling window (rows, columns).
    ignore_border : bool or None
        Drop the partial windows at the borders (None: False).
    st : pair of int or None
        The stride; None is ``ds`` (windows that do not overlap).
    padding : pair of int
        Zeros added on each side of the rows and of the columns.
    mode : {"max", "sum", "average_inc_pad", "average_exc_pad"}

    Returns
    -------
    theano tensor
    """
    from theano.tensor.signal.pool import pool_2d
    return pool_2d(input, ws=ds, ignore_border=bool(ignore_border), stride=st, pad=padding,
                   mode=mode)


def _old_module(name, targets=(), doc=None, **names):
    """Register module ``name`` (an old Theano name) in ``sys.modules`` and on its
    parent: ``names``, then any attribute of the ``targets`` modules."""
    import types
    if name in sys.modules:
        return sys.modules[name]
    module = types.ModuleType(name, doc or "Theano's old %s (lasagne_seq2seq.backend.compat, "
                              "item 5): forwards to %s." % (
                                  name, ", ".join(t.__name__ for t in targets) or "nothing"))
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    vars(module).update(names)

    def __getattr__(attribute):
        # Not __path__, __file__ and the like: the old module is no package
        # and no file of the new one's.
        for target in targets if not attribute.startswith("__") else ():
            if hasattr(target, attribute):
                return getattr(target, attribute)
        raise AttributeError("module %r has no attribute %r" % (name, attribute))
    module.__getattr__ = __getattr__
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)
    return module


#: Theano's old scan modules (``theano.scan_module.*``) and theano-pymc's.
_OLD_SCAN_MODULES = {"scan_utils": "utils", "scan_op": "op", "scan_opt": "opt",
                     "scan_views": "views", "scan_checkpoints": "checkpoints"}

#: What ``theano.sandbox.cuda.dnn.dnn_available.msg`` says.
NO_OLD_CUDA_BACKEND = ("theano-pymc has no theano.sandbox.cuda (Theano's old CUDA back end); "
                       "its GPU back end is theano.gpuarray")


def _dnn_available():
    """Old Theano's ``theano.sandbox.cuda.dnn.dnn_available``: never, here."""
    return False


_dnn_available.msg = NO_OLD_CUDA_BACKEND


def _graph_inputs(variable_list, blockers=None):
    """Old Theano's ``theano.gof.graph.inputs``: the list of the graphs' inputs
    (theano-pymc's ``graph_inputs`` yields them)."""
    from theano.graph.basic import graph_inputs
    return list(graph_inputs(variable_list, blockers))


def _alias_lasagne_imports():
    import importlib

    import theano
    import theano.sandbox
    import theano.tensor.signal
    from theano.graph import basic
    from theano.sandbox import rng_mrg
    from theano.tensor.signal import pool
    if not hasattr(rng_mrg, "MRG_RandomStreams"):
        rng_mrg.MRG_RandomStreams = rng_mrg.MRG_RandomStream
    _old_module("theano.tensor.signal.downsample", [pool], max_pool_2d=max_pool_2d)
    if not hasattr(theano, "Variable"):
        theano.Variable = basic.Variable
    if not hasattr(theano, "gof"):
        graph = [importlib.import_module("theano.graph." + name)
                 for name in ("basic", "op", "fg", "type", "toolbox", "utils")]
        toolbox = graph[4]
        _old_module("theano.gof", graph)
        _old_module("theano.gof.graph", [basic], is_same_graph=toolbox.is_same_graph,
                    is_same_graph_with_merge=toolbox.is_same_graph_with_merge,
                    **({} if hasattr(basic, "inputs") else {"inputs": _graph_inputs}))
    if not hasattr(theano, "scan_module"):
        scan = importlib.import_module("theano.scan")
        _old_module("theano.scan_module", [scan])
        for old, new in _OLD_SCAN_MODULES.items():
            target = importlib.import_module("theano.scan." + new)
            _old_module("theano.scan_module." + old, [target])
    if not hasattr(theano.sandbox, "cuda"):
        _old_module("theano.sandbox.cuda", doc="Theano's old CUDA back end, absent from "
                    "theano-pymc, as it looked without CUDA (compat, item 5).",
                    cuda_available=False, cuda_enabled=False)
        _old_module("theano.sandbox.cuda.dnn", doc="Old Theano's cuDNN ops: never "
                    "available here (compat, item 5).", dnn_available=_dnn_available)


#: What theano-pymc 1.1.2 writes into the C code instead of the pragma's threshold.
_OPENMP_PRAGMA_LITERAL = "{int(config.openmp_elemwise_minsize)}"


def _fix_openmp_pragma():
    import inspect
    import theano
    from theano.tensor.elemwise import Elemwise
    if _OPENMP_PRAGMA_LITERAL not in inspect.getsource(Elemwise._c_all):
        return  # a Theano without the bug
    buggy_c_all = Elemwise._c_all

    def _c_all(self, *args, **kwargs):
        decl, checks, alloc, loop = buggy_c_all(self, *args, **kwargs)
        threshold = str(int(theano.config.openmp_elemwise_minsize))
        return decl, checks, alloc, loop.replace(_OPENMP_PRAGMA_LITERAL, threshold)
    Elemwise._c_all = _c_all


#: Python frames Theano may use on deep (unrolled) graphs; the default is 1,000.
RECURSION_LIMIT = 10000


class _MissingMklLibraryFilter(logging.Filter):
    """Drop Theano's "did not find a dynamic library" warning when the BLAS is
    MKL: it looks for a name ending in ``.so`` and misses ``libmkl_rt.so.3``."""

    def filter(self, record):
        return not (record.getMessage().startswith("We did not find a dynamic library")
                    and MKL_RUNTIME in os.environ.get("THEANO_FLAGS", ""))


class _PatchAfterImport(importlib.abc.Loader):
    """A module's own loader, followed by the patches that need it loaded."""

    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        if module.__name__ == "theano":
            # Here rather than in install(): scripts turn this error into one line.
            _check_gpu_backend(os.environ.get("THEANO_FLAGS", ""))
        with warnings.catch_warnings():
            # theano-pymc warns about its own deprecated modules on import.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.loader.exec_module(module)
            self.patch()

    def __getattr__(self, name):  # get_data, is_package, ... for importlib.resources
        return getattr(self.loader, name)


class _TheanoImportHook(importlib.abc.MetaPathFinder):
    """Patches a module right after its first import, from wherever it comes
    (Theano itself: ``import lasagne``, ``import theano`` or one of this
    package's modules; its JAX dispatch: the first ``mode="JAX"`` function)."""

    def __init__(self, module="theano", patch=None):
        self.module, self.patch = module, patch or _patch_theano

    def find_spec(self, fullname, path, target=None):
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchAfterImport(spec.loader, self.patch)
        return spec


def _patch_theano():
    _alias_lasagne_imports()
    _fix_openmp_pragma()
    # The linker is loaded with Theano (jax is not): its thunks are ours, and
    # the dispatch they use is patched when it is first imported.
    from theano.link.jax.jax_linker import JAXLinker
    JAXLinker.create_jax_thunks = _create_jax_thunks
    if "theano.link.jax.jax_dispatch" in sys.modules:
        _patch_jax()
    else:
        sys.meta_path.insert(0, _TheanoImportHook("theano.link.jax.jax_dispatch", _patch_jax))


def jax_graph_function(fgraph):
    """A JAX function computing every output of a Theano graph (item 8).

    Parameters
    ----------
    fgraph : theano.graph.fg.FunctionGraph

    Returns
    -------
    callable
        ``f(*inputs) -> tuple`` of the outputs, in ``fgraph.outputs`` order;
        traceable by ``jax.jit`` and ``lax.scan``.
    """
    import jax
    import numpy as np
    from theano.graph.basic import Constant, NoParams
    from theano.graph.utils import MethodNotDefined
    from theano.link.jax.jax_dispatch import jax_funcify
    from theano.scalar.basic import Scalar
    from theano.scan.op import Scan
    from theano.tensor.basic import Dot
    from theano.tensor.elemwise import DimShuffle, Elemwise
    nodes = fgraph.toposort()
    implementations = [jax_funcify(node.op) for node in nodes]
    operands = [node.inputs for node in nodes]
    # A product of a transposed matrix (a tied output layer's h . E.T) takes
    # the matrix itself and contracts its other axis: XLA's CPU matrix-vector
    # code reads a transposed operand column by column (30x slower at batch 1).
    transposed = {node.outputs[0]: node.inputs[0] for node in nodes
                  if isinstance(node.op, DimShuffle) and tuple(node.op.new_order) == (1, 0)}
    folded = set()
    for k, node in enumerate(nodes):
        if isinstance(node.op, Dot) and any(v in transposed for v in node.inputs) \
                and all(v.ndim == 2 for v in node.inputs):
            a, b = node.inputs
            implementations[k] = functools.partial(
                _dot_general, (((0 if a in transposed else 1,), (1 if b in transposed else 0,)),
                               ((), ())), node.outputs[0].dtype)
            operands[k] = [transposed.get(a, a), transposed.get(b, b)]
            folded.add(node)

    def concrete(value, variable):
        # What the C linker hands perform(): NumPy scalars for scalar types
        # (a 0-d array index makes x[i] a copy, and IncSubtensor writes into it).
        dtype = getattr(variable.type, "dtype", None)
        if dtype is None or value is None:
            return value
        if isinstance(variable.type, Scalar):
            return np.dtype(dtype).type(value)
        return np.asarray(value, dtype=dtype)

    def run(node, implementation, values):
        # NumPy's ufuncs, which Elemwise.perform uses, take at most 31 inputs
        # (the sum of a gradient's many terms has more); Scan.perform needs
        # the inner function the C linker compiles.
        if not any(isinstance(value, jax.core.Tracer) for value in values) \
                and not (isinstance(node.op, Elemwise) and len(values) > 31) \
                and not isinstance(node.op, Scan) and node not in folded:
            storage = [[None] for _ in node.outputs]
            params = node.run_params()
            # What the linker does before perform(), for the ops that build
            # their NumPy code there (Elemwise's ufunc, Composite's loops).
            node.op.prepare_node(node, None, None, "py")
            try:
                node.op.perform(node, [concrete(v, i) for v, i in zip(values, node.inputs)],
                                storage, *(() if params is NoParams else (params,)))
                return [cell[0] for cell in storage]
            except (NotImplementedError, MethodNotDefined):
                pass  # a C-only op: JAX computes it
        if isinstance(implementation, (list, tuple)):
            return [function(*values) for function in implementation]
        result = implementation(*values)
        return [result] if len(node.outputs) == 1 else list(result)

    def graph_function(*inputs):
        env = dict(zip(fgraph.inputs, inputs))

        def value_of(variable):
            if variable in env:
                return env[variable]
            if isinstance(variable, Constant):
                return variable.data
            raise KeyError(variable)  # not computed yet: a bug in the order
        for node, implementation, arguments in zip(nodes, implementations, operands):
            env.update(zip(node.outputs, run(node, implementation,
                                              [value_of(v) for v in arguments])))
        return tuple(value_of(v) for v in fgraph.outputs)
    return graph_function


def _dot_general(dimension_numbers, dtype, a, b):
    from jax import lax
    return lax.dot_general(a, b, dimension_numbers).astype(dtype)


def _create_jax_thunks(linker, compute_map, storage_map):
    """``JAXLinker.create_jax_thunks``: one thunk, one jitted function for the graph.

    A shared variable's value is handed to XLA once, not at every call: the
    thunk keeps the device copy of each shared value it read or returned (an
    update) and reuses it while the variable holds that same NumPy array.
    Decoding reads every parameter at each step: on a GPU each call would
    copy them all from the host (on the CPU the copy is cheap, 0.5 ms for
    the paper size's 62 MB). The assumption is Theano's own for
    ``borrow=True``: nobody writes into a shared variable's array in place
    (``set_value`` and updates replace it).
    """
    import jax
    import numpy as np
    from theano.compile.sharedvalue import SharedVariable
    fgraph = linker.fgraph
    compiled = jax.jit(jax_graph_function(fgraph))
    inputs = [storage_map[v] for v in fgraph.inputs]
    outputs = [storage_map[v] for v in fgraph.outputs]
    shared = [isinstance(v, SharedVariable) for v in fgraph.inputs]
    on_device = {}  # id of a NumPy array -> (the array, its device copy)

    def argument(is_shared, value, kept):
        if not (is_shared and isinstance(value, np.ndarray)):
            return value
        known = on_device.get(id(value))
        if known is None or known[0] is not value:
            known = (value, jax.device_put(value))
        kept[id(value)] = known
        return known[1]

    def thunk():
        kept = {}
        values = compiled(*[argument(is_shared, cell[0], kept)
                            for is_shared, cell in zip(shared, inputs)])
        for variable, cell, value in zip(fgraph.outputs, outputs, values):
            cell[0] = np.asarray(value, dtype=variable.dtype)
            kept[id(cell[0])] = (cell[0], value)
        on_device.clear()
        on_device.update(kept)
    thunk.inputs, thunk.outputs, thunk.lazy = inputs, outputs, False
    # streamline() pairs thunks with nodes: the one thunk stands for the last.
    return [thunk], [fgraph.toposort()[-1]]


def _mrg_uniform_jax(rstate, size, dtype):
    """Theano's ``mrg_uniform`` (MRG31k3p, the random streams of dropout) in JAX:
    the same numbers as its C code from the same state.

    Element ``i`` is the next draw of stream ``i % n_streams``: each round of
    a ``lax.scan`` advances every stream once, and the streams the last,
    partial round does not reach keep their state.

    Returns
    -------
    new_rstate : array (n_streams, 6) int32
    sample : array of ``size`` in (0, 1)
    """
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    from theano.sandbox import rng_mrg
    if dtype != "float32":
        raise NotImplementedError("mrg_uniform in JAX: float32 only, not %s" % dtype)
    shape = tuple(int(n) for n in size)
    count = int(np.prod(shape))
    n_streams = rstate.shape[0]
    rounds = -(-count // n_streams)
    M1, M2 = (jnp.int32(int(m)) for m in (rng_mrg.M1, rng_mrg.M2))
    MASK12, MASK13, MASK2, MULT2 = (jnp.int32(int(m)) for m in (
        rng_mrg.MASK12, rng_mrg.MASK13, rng_mrg.MASK2, rng_mrg.MULT2))

    def reduce(y, m):
        return jnp.where((y < 0) | (y >= m), y - m, y)

    def draw(state, _):
        x11, x12, x13, x21, x22, x23 = (state[:, k] for k in range(6))
        y1 = ((x12 & MASK12) << 22) + (x12 >> 9) + ((x13 & MASK13) << 7) + (x13 >> 24)
        y1 = reduce(reduce(y1, M1) + x13, M1)
        z1 = reduce(((x21 & MASK2) << 15) + MULT2 * (x21 >> 16), M2)
        z2 = reduce(((x23 & MASK2) << 15) + MULT2 * (x23 >> 16), M2)
        z2 = reduce(reduce(z2 + x23, M2) + z1, M2)
        value = jnp.where(y1 <= z2, y1 - z2 + M1, y1 - z2)
        new = jnp.stack([y1, x11, x12, z2, x21, x22], axis=1)
        return new, (new, value.astype(jnp.float32) * jnp.float32(4.6566126e-10))

    rstate = jnp.asarray(rstate, jnp.int32)
    _, (states, values) = lax.scan(draw, rstate, None, length=rounds)
    reached = count - (rounds - 1) * n_streams  # streams the last round advanced
    last = jnp.where((jnp.arange(n_streams) < reached)[:, None], states[-1],
                     states[-2] if rounds > 1 else rstate)
    return last, values.reshape(-1)[:count].reshape(shape)


def _scan_jax(op):
    """Theano's ``Scan`` op in JAX: one ``lax.scan`` over the steps (item 8).

    The outer outputs are what ``Scan.perform`` leaves: each ``mit_mot``
    buffer read and written at the step's taps (a scan's gradient), each
    ``mit_sot``/``sit_sot`` buffer the last ``len(buffer)`` states in time
    order, the initial ones first (the buffers Theano's memory-saving rewrite
    shortens keep only the latest; longer ones end in zeros), each
    ``nit_sot`` the same of its per-step outputs, each shared output its last
    value. The number of steps must be known while tracing (it comes from the
    inputs' shapes), and a loop with a stopping condition (``as_while``) has
    no implementation.
    """
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    from theano.graph.fg import FunctionGraph
    if op.as_while:
        raise NotImplementedError("scan with a stopping condition (as_while) in JAX")
    inner = jax_graph_function(FunctionGraph(op.inputs, op.outputs))
    n_mit_mot, n_states = op.n_mit_mot, op.n_mit_sot + op.n_sit_sot
    n_nit_sot, n_shared = op.n_nit_sot, op.n_shared_outs
    mit_mot_taps, state_taps = op.tap_array[:n_mit_mot], op.tap_array[n_mit_mot:op.n_outs]
    depths = [-min(taps) for taps in state_taps]  # the past states a step reads
    dtypes = [t.dtype for t in op.output_types]

    def scan(n_steps, *args):
        try:
            n = int(n_steps)
        except TypeError:  # a tracer
            raise NotImplementedError("scan in JAX: the number of steps must follow "
                                      "from the inputs' shapes") from None
        ends = np.cumsum([op.n_seqs, n_mit_mot, n_states, n_shared, n_nit_sot])
        sequences, mit_mots, buffers, shared, nit_sot_sizes, non_sequences = (
            args[a:b] for a, b in zip([0, *ends], [*ends, len(args)]))
        mit_mots = [jnp.asarray(buffer) for buffer in mit_mots]
        windows = [jnp.asarray(buffer)[:depth] for buffer, depth in zip(buffers, depths)]
        starts = [-min(taps) % len(buffer) for taps, buffer in zip(mit_mot_taps, mit_mots)]

        def step(carry, slices):
            i, mit_mots, windows, shared = carry
            positions = [(start + i) % len(buffer) for start, buffer in zip(starts, mit_mots)]
            inputs = list(slices)
            for buffer, taps, position in zip(mit_mots, mit_mot_taps, positions):
                inputs += [buffer[(position + tap) % len(buffer)] for tap in taps]
            for window, taps, depth in zip(windows, state_taps, depths):
                inputs += [window[depth + tap] for tap in taps]
            outputs = iter(inner(*inputs, *shared, *non_sequences))
            for k, (position, written) in enumerate(zip(positions, op.mit_mot_out_slices)):
                for tap in written:
                    mit_mots[k] = mit_mots[k].at[position + tap].set(
                        next(outputs).astype(mit_mots[k].dtype))
            states = [next(outputs).astype(window.dtype) for window in windows]
            windows = [jnp.concatenate([window[1:], state[None]])
                       for window, state in zip(windows, states)]
            per_step = states + [next(outputs) for _ in range(n_nit_sot)]
            shared = [next(outputs).astype(jnp.asarray(old).dtype) for old in shared]
            return (i + 1, mit_mots, windows, shared), per_step

        carry = (jnp.int32(0), mit_mots, windows, [jnp.asarray(value) for value in shared])
        (_, mit_mots, _, shared), per_step = lax.scan(
            step, carry, [sequence[:n] for sequence in sequences], length=n)

        def kept(history, length):
            # Scan.perform's circular buffer of ``length``, once put in order.
            if length <= len(history):
                return history[len(history) - length:]
            return jnp.concatenate([history, jnp.zeros((length - len(history),)
                                                       + history.shape[1:], history.dtype)])
        lengths = [len(buffer) for buffer in buffers] + [int(size) for size in nit_sot_sizes]
        initial = windows + [None] * n_nit_sot
        outputs = mit_mots + [
            kept(values if first is None else jnp.concatenate([first, values]), length)
            for first, values, length in zip(initial, per_step, lengths)] + shared
        outputs = [value.astype(dtype) for value, dtype in zip(outputs, dtypes)]
        return outputs[0] if len(outputs) == 1 else outputs
    return scan


#: NumPy names theano-pymc's JAX dispatch uses that jax.numpy no longer has.
_JAX_RENAMED = {"product": "prod"}


def _patch_jax():
    import copy
    import jax
    from theano.graph.fg import FunctionGraph
    from theano.graph.op import Op
    from theano.link.jax import jax_dispatch
    import jax.numpy as jnp
    import numpy as np
    from theano.sandbox.rng_mrg import mrg_uniform
    from theano.scalar.basic import ScalarOp
    from theano.scan.op import Scan
    from theano.tensor.basic import MaxAndArgmax, Split
    from theano.tensor.nnet.nnet import (CrossentropySoftmax1HotWithBiasDx,
                                         CrossentropySoftmaxArgmax1HotWithBias)
    from theano.tensor.opt import Assert
    from theano.tensor.elemwise import CAReduce
    from theano.tensor.subtensor import (AdvancedIncSubtensor, AdvancedIncSubtensor1,
                                         IncSubtensor, get_idx_list)
    funcify = jax_dispatch.jax_funcify
    warnings.filterwarnings("ignore", message="Explicitly requested dtype .* is not available")

    @funcify.register(FunctionGraph)
    def _graph(fgraph):
        # Scan and Composite want one function per output.
        whole = jax_graph_function(fgraph)
        return [lambda *args, k=k: whole(*args)[k] for k in range(len(fgraph.outputs))]

    def _at(op, x, index, y):
        at = jnp.asarray(x).at[index]  # x may be known while tracing: NumPy
        return at.set(y) if getattr(op, "set_instead_of_inc", False) else at.add(y)

    @funcify.register(IncSubtensor)
    def _inc_subtensor(op):
        def inc_subtensor(x, y, *indices):
            index = get_idx_list((x,) + indices, op.idx_list)
            return _at(op, x, tuple(index), y)
        return inc_subtensor

    @funcify.register(AdvancedIncSubtensor1)
    @funcify.register(AdvancedIncSubtensor)
    def _advanced_inc_subtensor(op):
        def advanced_inc_subtensor(x, y, *indices):
            return _at(op, x, indices[0] if len(indices) == 1 else tuple(indices), y)
        return advanced_inc_subtensor

    scalar = funcify.dispatch(ScalarOp)

    @funcify.register(ScalarOp)
    def _scalar(op):
        renamed = {name: _JAX_RENAMED[getattr(op, name)] for name in ("nfunc_variadic",)
                   if getattr(op, name, None) in _JAX_RENAMED}
        if renamed:
            op = copy.copy(op)
            vars(op).update(renamed)
        return scalar(op)

    reduction = funcify.dispatch(CAReduce)

    @funcify.register(CAReduce)
    def _careduce(op):
        if getattr(op, "acc_dtype", None) in ("float64", "int64", "uint64") \
                and not jax.config.jax_enable_x64:
            op = copy.copy(op)
            op.acc_dtype = getattr(op, "dtype", None)
        return reduction(op)

    @funcify.register(Split)
    def _split(op):
        def split(x, axis, sizes):
            # axis and sizes are known while tracing (item 8): static slices.
            return jnp.split(x, np.cumsum(np.asarray(sizes))[:-1].tolist(), axis=int(axis))
        return split

    @funcify.register(Assert)
    def _assert(op):
        # A jitted function cannot raise; the graph's checks ran at build time.
        return lambda value, *conditions: value

    @funcify.register(CrossentropySoftmaxArgmax1HotWithBias)
    def _crossentropy_softmax(op):
        # What Theano rewrites categorical_crossentropy(softmax(x + b), y)
        # into (sampled softmax's loss): (nll, softmax, argmax).
        def crossentropy_softmax(x, b, y_idx):
            logits = x + b
            log_sm = jax.nn.log_softmax(logits, axis=1)
            nll = -jnp.take_along_axis(log_sm, y_idx[:, None].astype(jnp.int32), axis=1)[:, 0]
            return nll, jnp.exp(log_sm), jnp.argmax(logits, axis=1).astype(y_idx.dtype)
        return crossentropy_softmax

    @funcify.register(CrossentropySoftmax1HotWithBiasDx)
    def _crossentropy_softmax_dx(op):
        def crossentropy_softmax_dx(dy, sm, y_idx):
            rows = jnp.arange(sm.shape[0])
            return (sm * jnp.reshape(dy, (-1, 1))).at[rows, y_idx].add(-dy)
        return crossentropy_softmax_dx

    @funcify.register(MaxAndArgmax)
    def _max_and_argmax(op):
        # theano-pymc's builds the transposition from traced arrays, which
        # jit refuses; the axes are static.
        def max_and_argmax(x):
            axes = tuple(range(x.ndim)) if op.axis is None else tuple(int(a) for a in op.axis)
            kept = [a for a in range(x.ndim) if a not in axes]
            moved = jnp.transpose(x, kept + list(axes))
            flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
            return jnp.max(x, axis=axes), jnp.argmax(flat, axis=-1)
        return max_and_argmax

    funcify.register(Scan)(_scan_jax)

    @funcify.register(mrg_uniform)
    def _mrg_uniform(op):
        return lambda rstate, size: _mrg_uniform_jax(rstate, size, op.output_type.dtype)

    @funcify.register(Op)
    def _own(op):
        if not hasattr(op, "jax_funcify"):
            raise NotImplementedError("No JAX conversion for the given `Op`: %s" % op)
        return op.jax_funcify()


_installed = False


def install():
    """Install every work-around; :mod:`lasagne_seq2seq` calls it on import.

    Sets ``THEANO_FLAGS`` and the other environment variables Theano and the
    BLAS read, without importing Theano (so a script can still choose the
    device afterwards, :func:`lasagne_seq2seq.cli.select_device`), and
    registers an import hook that patches Theano for Lasagne 0.1 as soon as
    anything imports it. Calling it again does nothing.

    Examples
    --------
    >>> import lasagne_seq2seq  # calls install()
    >>> import lasagne          # works: Theano is patched on its way in
    """
    global _installed
    if _installed:
        return
    _installed = True
    _check_numpy()
    _configure_theano()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    logging.getLogger("theano.graph.opt").setLevel(logging.CRITICAL)
    logging.getLogger("theano.tensor.blas").addFilter(_MissingMklLibraryFilter())
    # Lasagne 0.1 imports pkg_resources, which setuptools 80 deprecates with a
    # warning on every start (requirements.txt keeps setuptools<81, which still
    # has it); users cannot act on it.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                            category=UserWarning)
    if "theano" in sys.modules:
        _patch_theano()
    else:
        sys.meta_path.insert(0, _TheanoImportHook())
