"""Each work-around in lasagne_seq2seq.compat, proven on the installed stack."""
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from lasagne_seq2seq.backend import compat
from lasagne_seq2seq.errors import Seq2SeqError
import theano
import theano.tensor as T
import lasagne



def test_float32_openblas_and_cache_defaults():
    assert theano.config.floatX == "float32"
    assert theano.config.base_compiledir.startswith(compat.cache_dir())
    assert theano.config.blas__ldflags == compat.blas_ldflags()


def test_blas_preference_mkl_then_openblas_openmp_then_openblas(tmp_path):
    lib, venv = tmp_path / "lib", tmp_path / "venv"
    (lib / "openblas-openmp").mkdir(parents=True)
    (venv / "lib").mkdir(parents=True)
    (lib / "libopenblas.so").write_bytes(b"\x7fELF")  # the alternatives' choice
    assert compat.blas_ldflags([str(lib)], prefix=str(venv)) == "-lopenblas"
    (lib / "openblas-openmp" / "libopenblas.so").write_bytes(b"\x7fELF")
    openmp = str(lib / "openblas-openmp")
    openmp_flags = compat.blas_ldflags([str(lib)], prefix=str(venv))
    assert openmp_flags == "-L%s -Xlinker -R%s -lopenblas" % (openmp, openmp)
    (venv / "lib" / compat.MKL_RUNTIME).write_bytes(b"\x7fELF")  # PyPI's mkl
    mkl = str(venv / "lib")
    mkl_flags = compat.blas_ldflags([str(lib)], prefix=str(venv))
    assert mkl_flags == "-L%s -Xlinker -R%s -l:libmkl_rt.so.3" % (mkl, mkl)
    # THEANO_FLAGS splits on commas, and Theano wants every token to start with "-".
    for flags in (openmp_flags, mkl_flags):
        assert "," not in flags and all(token.startswith("-") for token in flags.split())


def test_the_recorded_blas_choice_is_linked_while_its_library_is_there(tmp_path):
    """setup.sh's measured choice (train/blas_choice.py) wins over the order
    of preference; gone or unreadable, the order decides again."""
    lib, venv = tmp_path / "lib", tmp_path / "venv"
    (lib / "openblas-openmp").mkdir(parents=True)
    (venv / "lib").mkdir(parents=True)
    (lib / "openblas-openmp" / "libopenblas.so").write_bytes(b"\x7fELF")
    (venv / "lib" / compat.MKL_RUNTIME).write_bytes(b"\x7fELF")
    candidates = compat.blas_candidates([str(lib)], prefix=str(venv))
    assert list(candidates) == ["mkl", "openblas-openmp"]
    record = venv / compat.BLAS_RECORD
    record.write_text('{"choice": "openblas-openmp"}')
    assert compat.blas_ldflags([str(lib)], prefix=str(venv)) == candidates["openblas-openmp"]
    record.write_text('{"choice": "mkl"}')
    assert compat.blas_ldflags([str(lib)], prefix=str(venv)) == candidates["mkl"]
    (venv / "lib" / compat.MKL_RUNTIME).unlink()  # MKL removed since
    assert compat.blas_ldflags([str(lib)], prefix=str(venv)) == candidates["openblas-openmp"]
    record.write_text("{not json")
    assert compat.blas_ldflags([str(lib)], prefix=str(venv)) == candidates["openblas-openmp"]


def test_mkl_runs_on_the_gnu_openmp_threads_the_c_ops_share():
    if compat.MKL_RUNTIME not in theano.config.blas__ldflags:
        pytest.skip("MKL is not the BLAS here")
    assert os.environ["MKL_THREADING_LAYER"] == "GNU"
    x = T.fmatrix()
    product = theano.function([x], T.dot(x, x))(np.eye(64, dtype="float32"))
    assert np.allclose(product, np.eye(64))
    maps = open("/proc/self/maps").read()  # MKL and its threads are loaded now
    assert "libgomp" in maps and "libiomp5" not in maps


def test_theanos_missing_library_warning_is_dropped_for_mkl_only(monkeypatch):
    blas_logger = logging.getLogger("theano.tensor.blas")
    message = ("We did not find a dynamic library in the library_dir of the library we use "
               "for blas. If you use ATLAS, make sure to compile it with dynamics library.")
    record = logging.LogRecord("theano.tensor.blas", logging.WARNING, __file__, 1, message,
                               None, None)
    monkeypatch.setenv("THEANO_FLAGS", "blas__ldflags=-L/x -l:%s" % compat.MKL_RUNTIME)
    assert not blas_logger.filter(record)
    monkeypatch.setenv("THEANO_FLAGS", "blas__ldflags=-L/x -latlas")  # a real miss: kept
    assert blas_logger.filter(record)
    other = logging.LogRecord("theano.tensor.blas", logging.WARNING, __file__, 1, "other",
                              None, None)
    assert blas_logger.filter(other)


def test_openblas_counts_only_when_the_linker_can_find_it(tmp_path, monkeypatch):
    # Debian's runtime package alone: libopenblas.so.0, no libopenblas.so to link.
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "libopenblas.so.0").write_bytes(b"\x7fELF")
    assert not compat.openblas_available([str(runtime)])
    (runtime / "libopenblas.so").symlink_to(tmp_path / "removed-alternative.so")
    assert not compat.openblas_available([str(runtime)])  # a dangling link links nothing
    (runtime / "libopenblas.so").unlink()
    (runtime / "libopenblas.so").symlink_to("libopenblas.so.0")  # what libopenblas-dev adds
    assert compat.openblas_available([str(runtime)])
    monkeypatch.setenv("LIBRARY_PATH", "%s:/opt/none" % runtime)
    assert compat.linker_directories()[:2] == [str(runtime), "/opt/none"]


def test_a_gpu_in_theano_flags_without_pygpu_is_refused_with_the_fix(monkeypatch):
    assert compat.gpu_settings("floatX=float32,device=cpu,init_gpu_device=") == []
    assert compat.gpu_settings("device=cuda1,init_gpu_device=opencl0:0,contexts=d->cuda0") == [
        "device=cuda1", "init_gpu_device=opencl0:0", "contexts=d->cuda0"]
    real_find_spec = compat.importlib.util.find_spec
    monkeypatch.setattr(compat.importlib.util, "find_spec",
                        lambda name, *args: None if name == "pygpu" else real_find_spec(name, *args))
    compat._check_gpu_backend("device=cpu,floatX=float32")
    with pytest.raises(Seq2SeqError, match=r"THEANO_FLAGS device=cuda needs pygpu, which is not "
                       r"on PyPI: .* or use THEANO_FLAGS=device=cpu \(or --device cpu\)"):
        compat._check_gpu_backend("floatX=float32,device=cuda")


def test_user_theano_flags_win_over_defaults():
    merged = compat.merge_theano_flags({"floatX": "float32", "blas__ldflags": "-lopenblas"},
                                       "floatX=float64, device=cpu,blas.ldflags=")
    assert dict(item.split("=") for item in merged.split(",")) == {
        "floatX": "float64", "blas__ldflags": "", "device": "cpu"}


def test_user_theano_flags_reach_theano_in_a_fresh_process():
    env = dict(os.environ, THEANO_FLAGS="floatX=float64")
    out = subprocess.run([sys.executable, "-c", "import lasagne_seq2seq, theano; "
                          "print(theano.config.floatX)"], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[-1] == "float64"


def test_importing_the_stack_prints_nothing():
    result = subprocess.run([sys.executable, "-W", "default", "-c",
                             "import lasagne_seq2seq, lasagne"],
                            capture_output=True, text=True, check=True)
    assert result.stderr == "" and result.stdout == ""


def test_numpy_pin_is_checked(monkeypatch):
    monkeypatch.setattr(np, "__version__", "1.26.4")
    with pytest.raises(compat.StackError, match="numpy<1.24"):
        compat._check_numpy()


def test_scan_runs_without_the_cython_extension():
    assert sys.modules["theano.scan.scan_perform_ext"] is None
    x = T.vector()
    cumulative, _ = theano.scan(lambda value, total: total + value, sequences=[x],
                                outputs_info=[T.constant(np.float32(0))])
    f = theano.function([x], cumulative)
    np.testing.assert_allclose(f(np.arange(4, dtype="float32")), [0, 1, 3, 6])


def test_lasagne_lstm_layer_compiles_and_runs():
    l_in = lasagne.layers.InputLayer((None, None, 3))
    l_lstm = lasagne.layers.LSTMLayer(l_in, 5)
    f = theano.function([l_in.input_var], lasagne.layers.get_output(l_lstm))
    out = f(np.ones((2, 4, 3), dtype="float32"))
    assert out.shape == (2, 4, 5) and np.isfinite(out).all()


def test_dropout_is_random_at_train_time_and_off_at_test_time():
    l_in = lasagne.layers.InputLayer((None, 200))
    l_drop = lasagne.layers.DropoutLayer(l_in, p=0.5)
    train = theano.function([l_in.input_var], lasagne.layers.get_output(l_drop))
    test = theano.function([l_in.input_var],
                           lasagne.layers.get_output(l_drop, deterministic=True))
    ones = np.ones((4, 200), dtype="float32")
    dropped = train(ones)
    assert 0.3 < (dropped == 0).mean() < 0.7
    assert set(np.unique(dropped)) <= {0.0, 2.0}
    assert not np.array_equal(dropped, train(ones))
    np.testing.assert_array_equal(test(ones), ones)


def test_get_output_accepts_expressions_for_layers():
    l_in = lasagne.layers.InputLayer((None, 3))
    l_dense = lasagne.layers.DenseLayer(l_in, 2)
    x = T.matrix()
    assert lasagne.layers.get_output(l_dense, {l_in: x * 2}).ndim == 2


def test_openmp_elementwise_graph_compiles_and_runs():
    # theano-pymc 1.1.2 writes an invalid pragma for contiguous loops: without
    # the patch this compile fails. Threshold 1000 < 5000 elements, so the
    # OpenMP branch runs.
    with theano.config.change_flags(openmp=True, openmp_elemwise_minsize=1000):
        x, y = T.vectors("x", "y")
        f = theano.function([x, y], T.exp(x) * y + 1)
    assert any(getattr(node.op, "openmp", False) for node in f.maker.fgraph.toposort())
    rng = np.random.RandomState(0)
    a, b = rng.randn(2, 5000).astype("float32")
    np.testing.assert_allclose(f(a, b), np.exp(a) * b + 1, rtol=1e-5, atol=1e-5)
