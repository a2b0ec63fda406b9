"""The old Theano names compat resolves for Lasagne 0.1 (item 5 of its docstring),
and Lasagne 0.1's own test suite run through bench/lasagne_suite.py.

The shims' tests need no download. The suite's test downloads Lasagne's sdist
from PyPI once, into the package's cache, and skips only when PyPI cannot be
reached. It runs the subset (the files that failed before those shims, ~5 s
with Theano's cache warm, ~30 s cold), or all of it under CI (``CI`` set, as
.ci/run is run) or with ``LASAGNE_SUITE=all``.
"""
import importlib
import importlib.util
import os
import re
import sys
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.backend import compat
from lasagne_seq2seq.errors import Seq2SeqError
import theano
import theano.tensor as T
from theano.tensor.signal.pool import pool_2d
import lasagne

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "lasagne_suite.py"


@pytest.fixture(scope="module")
def suite():
    """bench/lasagne_suite.py as a module."""
    spec = importlib.util.spec_from_file_location("lasagne_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numpy_max_pool(x, size, stride, pad, ignore_border):
    """Max pooling over the last two axes of ``x`` (padding never wins: -inf)."""
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(pad[0],) * 2, (pad[1],) * 2],
                    constant_values=-np.inf)
    out = []
    for axis, (n, s, k) in enumerate(zip(padded.shape[-2:], stride, size)):
        if ignore_border:
            out.append((n - k) // s + 1)
        else:  # partial windows at the end count, as in Theano (no padding then)
            out.append(max(0, (n - 1 - k + s) // s) + 1 if s < k else (n - 1) // s + 1)
    result = np.empty(x.shape[:-2] + tuple(out), x.dtype)
    for i in range(out[0]):
        for j in range(out[1]):
            window = padded[..., i * stride[0]:i * stride[0] + size[0],
                            j * stride[1]:j * stride[1] + size[1]]
            result[..., i, j] = window.max(axis=(-2, -1))
    return result


@pytest.mark.parametrize("ds, st, padding, ignore_border, mode", [
    ((2, 2), None, (0, 0), True, "max"),
    ((3, 2), (1, 2), (1, 1), True, "max"),
    ((2, 2), (2, 2), (0, 0), False, "max"),
    ((2, 3), (1, 1), (1, 0), True, "average_exc_pad"),
    ((2, 2), (1, 1), (0, 0), True, "sum"),
])
def test_downsample_max_pool_2d_is_pool_2d_under_the_old_names(ds, st, padding, ignore_border,
                                                                mode):
    from theano.tensor.signal import downsample
    x = T.tensor4()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # no pool_2d ds/st warnings
        old = downsample.max_pool_2d(x, ds, ignore_border=ignore_border, st=st,
                                     padding=padding, mode=mode)
    new = pool_2d(x, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode)
    a = np.random.RandomState(0).randn(2, 3, 7, 6).astype("float32")
    got, want = theano.function([x], [old, new])(a)
    np.testing.assert_array_equal(got, want)
    if mode == "max":
        np.testing.assert_array_equal(got, numpy_max_pool(a, ds, st or ds, padding,
                                                          ignore_border))
    # the rest of the module is theano-pymc's pool
    assert downsample.Pool is theano.tensor.signal.pool.Pool
    assert downsample.max_pool_2d is compat.max_pool_2d


def test_lasagnes_pooling_layers_build_and_pool():
    a = np.random.RandomState(1).randn(2, 3, 6, 5).astype("float32")
    l_in = lasagne.layers.InputLayer((None, 3, 6, 5))
    layers = {
        "max2d": lasagne.layers.MaxPool2DLayer(l_in, pool_size=2, stride=1, pad=(1, 0)),
        "avg2d": lasagne.layers.Pool2DLayer(l_in, pool_size=3, mode="average_inc_pad"),
        "max1d": lasagne.layers.MaxPool1DLayer(
            lasagne.layers.InputLayer((None, 3, 5)), pool_size=2),
    }
    x3 = T.tensor3()
    f = theano.function([l_in.input_var, x3], [
        lasagne.layers.get_output(layers["max2d"]),
        lasagne.layers.get_output(layers["avg2d"]),
        lasagne.layers.get_output(layers["max1d"], x3)])
    max2d, avg2d, max1d = f(a, a[:, :, 0])
    np.testing.assert_array_equal(max2d, numpy_max_pool(a, (2, 2), (1, 1), (1, 0), True))
    assert max2d.shape[1:] == layers["max2d"].output_shape[1:]
    assert avg2d.shape[1:] == layers["avg2d"].output_shape[1:] == (3, 2, 1)
    np.testing.assert_allclose(avg2d[..., 0, 0], a[..., :3, :3].mean(axis=(-2, -1)), rtol=1e-5)
    np.testing.assert_array_equal(
        max1d, numpy_max_pool(a[:, :, 0][..., None], (2, 1), (2, 1), (0, 0), True)[..., 0])


def test_theano_gof_is_theano_graph_with_is_same_graph_and_inputs():
    import theano.gof.graph
    from theano.gof import Apply, FunctionGraph, Variable
    from theano.graph import basic, fg, toolbox
    assert (Variable, Apply, FunctionGraph) == (basic.Variable, basic.Apply, fg.FunctionGraph)
    assert theano.gof.graph.is_same_graph is toolbox.is_same_graph
    x, w = T.matrix(), T.matrix()
    assert theano.gof.graph.is_same_graph(x.mean(), x.mean())
    assert not theano.gof.graph.is_same_graph(x.mean(), x.sum())
    assert theano.gof.graph.is_same_graph(lasagne.objectives.aggregate(x, w, "sum"),
                                          (x * w).sum())
    assert theano.gof.graph.inputs([x * w]) == [x, w]  # a list, as it was
    assert theano.gof.graph.Constant is basic.Constant


def test_theano_scan_module_is_theano_scan():
    import theano.scan_module
    from theano.scan import basic, op
    from theano.scan_module.scan_op import Scan
    from theano.scan_module.scan_utils import equal_computations
    assert Scan is op.Scan
    assert theano.scan_module.scan is basic.scan  # the function, as before
    assert theano.scan_module.scan_utils is sys.modules["theano.scan_module.scan_utils"]
    x = T.vector()
    assert equal_computations([x * 2], [x * 2]) and not equal_computations([x * 2], [x * 3])
    l2 = lasagne.regularization.l2(x)
    assert equal_computations([l2], [T.sum(x ** 2)])


def test_old_modules_are_not_packages_of_the_new_ones():
    import theano.scan_module
    # Forwarding __path__ would load theano/scan/*.py a second time under the old name.
    assert not hasattr(theano.scan_module, "__path__")
    with pytest.raises(ImportError):
        importlib.import_module("theano.scan_module.basic")
    assert importlib.util.find_spec("theano.gof").name == "theano.gof"


def test_theano_sandbox_cuda_is_old_theano_without_cuda():
    import theano.sandbox.cuda
    from theano.sandbox.cuda import dnn
    assert theano.sandbox.cuda.cuda_available is False
    assert dnn.dnn_available() is False and "theano.gpuarray" in dnn.dnn_available.msg
    # What Lasagne's GPU layers do then, and what their users catch: ImportError.
    with pytest.raises(ImportError, match="dnn not available"):
        importlib.import_module("lasagne.layers.dnn")
    for name in ("lasagne.layers.corrmm", "lasagne.layers.cuda_convnet"):
        with pytest.raises(ImportError):
            importlib.import_module(name)


def test_theano_variable_is_the_old_top_level_name():
    assert theano.Variable is theano.graph.basic.Variable
    l_in = lasagne.layers.InputLayer((3, 2))
    variable = theano.Variable(T.matrix().type, name="myvariable")
    assert lasagne.layers.get_output(l_in, variable) is variable


def test_a_cached_sdist_is_reused_without_pip(suite, tmp_path):
    (tmp_path / suite.SDIST).write_bytes(b"cached")
    assert suite.download_sdist(str(tmp_path), python="/nonexistent/python") == str(
        tmp_path / suite.SDIST)


def test_pip_that_cannot_reach_pypi_is_one_line(suite, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'WARNING: Retrying after connection broken' >&2\n"
                    "echo 'ERROR: No matching distribution found for lasagne==0.1' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(Seq2SeqError) as error:
        suite.download_sdist(str(tmp_path / "cache"), python=str(fake))
    message = str(error.value)
    assert "\n" not in message and "No matching distribution found" in message
    assert "cannot download Lasagne 0.1's sdist from PyPI" in message
    assert not (tmp_path / "cache" / suite.SDIST).exists()


def test_only_the_tests_folder_is_unpacked(suite, tmp_path):
    source = tmp_path / "src"
    for name in ("lasagne/__init__.py", "lasagne/tests/test_a.py",
                 "lasagne/tests/layers/test_b.py"):
        (source / "Lasagne-0.1" / name).parent.mkdir(parents=True, exist_ok=True)
        (source / "Lasagne-0.1" / name).write_text("")
    sdist = tmp_path / suite.SDIST
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(source / "Lasagne-0.1", arcname="Lasagne-0.1")
    out = tmp_path / "out"
    out.mkdir()
    suite.unpack_tests(str(sdist), str(out))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["conftest.py", "pytest.ini", "tests/layers/test_b.py", "tests/test_a.py"]
    assert "import lasagne_seq2seq" in (out / "conftest.py").read_text()


def suite_selection():
    """``"all"`` under CI (``CI`` set: 484 tests, about 3 minutes cold on 2 cores, 80 s
    with Theano's cache warm), else ``"subset"``; ``LASAGNE_SUITE`` chooses."""
    choice = os.environ.get("LASAGNE_SUITE") or ("all" if os.environ.get("CI") else "subset")
    if choice not in ("all", "subset"):
        raise ValueError("LASAGNE_SUITE=%s: all or subset" % choice)
    return choice


def test_lasagnes_own_tests_pass_under_compat(suite):
    """The subset: the files that failed before the shims; all of it in CI."""
    choice = suite_selection()
    try:
        sdist = suite.download_sdist()
    except Seq2SeqError as error:
        pytest.skip("PyPI unreachable: %s" % error)
    selection = suite.SUBSET if choice == "subset" else ["tests"]
    result = suite.run_suite(selection, ["-q"], sdist=sdist, capture=True)
    output = result.stdout + result.stderr
    summary = output.strip().splitlines()[-1]
    assert result.returncode == 0, output[-6000:]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    assert "failed" not in counts and "error" not in counts and "errors" not in counts, summary
    assert counts["passed"] >= (139 if choice == "subset" else 484), summary
    assert counts["xfailed"] == 1, summary
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all(suite.GPU_REASON in line or "Lasagne's examples" in line
                           for line in skipped), skipped
