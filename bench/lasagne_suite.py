#!/usr/bin/env python
"""Run Lasagne 0.1's own test suite against the installed Lasagne, under compat.

Lasagne's tests ship only in its source distribution on PyPI. This script
downloads it once with pip (``pip download --no-deps --no-binary :all:
lasagne==0.1``) into ``~/.cache/lasagne_seq2seq/lasagne-0.1-sdist`` (under
``$XDG_CACHE_HOME`` if set; reused when present), copies only its
``lasagne/tests`` folder into a temporary directory, and runs pytest there
with a ``conftest.py`` that imports ``lasagne_seq2seq`` first, so
``lasagne_seq2seq.backend.compat`` patches Theano before Lasagne loads. The
tests import the *installed* Lasagne (``.venv``), never the sdist's copy.

That conftest also:

* gives the GPU-only tests that reason when they skip: those of Lasagne's
  ``cuda_convnet``, ``corrmm`` and ``dnn`` layers, which need Theano's old
  CUDA back end, pylearn2 or cuDNN. Each still runs, tries to import its
  layer and skips itself on the ``ImportError`` (no test is skipped by its
  name, so no CPU test is);
* lists the tests whose failure is in the test, not the stack, as expected
  failures with the reason (:data:`TEST_SIDE_PROBLEMS`);
* checks that the tests import the installed Lasagne.

The tests import ``mock``, the backport that Lasagne's requirements-dev.txt
names (``requirements.txt`` installs it): Python 3.11's ``unittest.mock``
reads every attribute of a spec'd object, which evaluates the
``output_shape`` property of Lasagne's layers (13 tests of
``layers/test_helper.py`` then error in their set-up); the backport, in step
with Python 3.12, does not.

Lasagne's ``slow`` tests (``test_examples.py``: its examples train on MNIST,
downloaded from the internet) stay skipped, as its own conftest does without
``--runslow``.

Usage::

    .venv/bin/python bench/lasagne_suite.py             # the whole suite
    .venv/bin/python bench/lasagne_suite.py --subset    # the quick subset (SUBSET)
    .venv/bin/python bench/lasagne_suite.py -- -k pool  # more pytest arguments

Prints pytest's summary and exits with pytest's status: non-zero on any
failure or error. When pip cannot download the sdist (offline, PyPI
unreachable) it prints one line, ``error: ...``, and exits with status 2.
Results on this project's machine: docs/stack.md, "Lasagne's own tests".
"""
import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from lasagne_seq2seq.backend.compat import cache_dir
from lasagne_seq2seq.errors import Seq2SeqError

REQUIREMENT = "lasagne==0.1"
SDIST = "Lasagne-0.1.tar.gz"
#: Where the sdist's tests are inside it.
TESTS_IN_SDIST = "Lasagne-0.1/lasagne/tests/"

#: The quick subset (CI runs all: tests/test_lasagne_suite.py): the files that failed
#: before compat resolved the old names
#: (pooling, is_same_graph, scan_module, theano.Variable, theano.sandbox.cuda).
SUBSET = [
    "tests/layers/test_pool.py",
    "tests/test_objectives.py",
    "tests/test_regularization.py",
    "tests/layers/test_helper.py",
    "tests/layers/test_conv.py::TestConv2DDNNLayer::test_import_without_gpu_or_cudnn_raises",
]

#: Tests whose failure is in the test itself, with the reason: run as strict
#: expected failures (one that starts passing fails the run).
TEST_SIDE_PROBLEMS = {
    "tests/layers/test_helper.py::TestGetOutput_InputLayer::test_get_output_input_is_variable":
        "the test builds theano.Variable('myvariable'): a string where Variable takes its "
        "Theano type; the Theano 0.8 development version Lasagne 0.1 was pinned to stored it "
        "unchecked, theano-pymc's Variable() reads type.filter (AttributeError). compat "
        "resolves the old name "
        "theano.Variable, and get_output(layer, variable) returns a real Variable as the "
        "test expects (tests/test_lasagne_suite.py)",
}

#: The skip reasons of Lasagne's tests whose GPU layer (cuda_convnet, corrmm, dnn) did not
#: import: they try the import and skip themselves when it raises ImportError.
GPU_SKIP = r"(cuda_convnet|corrmm|dnn|cuDNN) not available"
GPU_REASON = ("GPU only: needs Theano's old CUDA back end (theano.sandbox.cuda), "
              "pylearn2's cuda_convnet or cuDNN; theano-pymc has none of them")
EXAMPLES_REASON = ("slow: Lasagne's examples train on MNIST, downloaded from the internet "
                   "(Lasagne's conftest skips them without --runslow; the sdist's examples/ "
                   "is not copied)")

CONFTEST = '''"""Written by bench/lasagne_suite.py: Lasagne 0.1's tests under lasagne_seq2seq's compat."""
import os
import re

import lasagne_seq2seq  # noqa: F401  first: installs compat's work-arounds
import lasagne
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
assert not os.path.abspath(lasagne.__file__).startswith(HERE), \\
    "testing the sdist's lasagne instead of the installed one: %%s" %% lasagne.__file__

GPU_SKIP = re.compile(%(gpu_skip)r)
GPU_REASON = %(gpu_reason)r
EXAMPLES_REASON = %(examples_reason)r
TEST_SIDE_PROBLEMS = %(test_side_problems)r


def pytest_report_header(config):
    return "lasagne %%s from %%s, under lasagne_seq2seq's compat" %% (
        lasagne.__version__, os.path.dirname(lasagne.__file__))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid in TEST_SIDE_PROBLEMS:
            item.add_marker(pytest.mark.xfail(reason=TEST_SIDE_PROBLEMS[item.nodeid],
                                              strict=True))
        elif item.nodeid.startswith("tests/test_examples.py"):
            item.add_marker(pytest.mark.skip(reason=EXAMPLES_REASON), append=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that skipped itself because its GPU layer did not import says why."""
    report = (yield).get_result()
    if report.skipped and isinstance(report.longrepr, tuple) \
            and GPU_SKIP.search(report.longrepr[2]):
        path, line, reason = report.longrepr
        report.longrepr = (path, line, "%%s (%%s)" %% (
            GPU_REASON, reason.replace("Skipped: ", "", 1)))
'''

PYTEST_INI = """[pytest]
python_files = test*py
markers =
    slow: Lasagne's slow tests (its examples)
"""


def sdist_cache():
    """The folder that keeps the downloaded sdist."""
    return os.path.join(cache_dir(), "lasagne-0.1-sdist")


def download_sdist(folder=None, python=sys.executable):
    """Return the path of Lasagne 0.1's sdist, downloading it with pip if absent.

    Parameters
    ----------
    folder : str, optional
        Where to keep it (:func:`sdist_cache` by default).
    python : str
        The interpreter whose pip downloads it.

    Returns
    -------
    str

    Raises
    ------
    Seq2SeqError
        pip could not download it (offline, PyPI unreachable), in one line.
    """
    folder = folder or sdist_cache()
    path = os.path.join(folder, SDIST)
    if os.path.isfile(path):
        return path
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as download:
        command = [python, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                   "--no-deps", "--no-binary", ":all:", REQUIREMENT, "-d", download]
        try:
            result = subprocess.run(command, check=False, capture_output=True, text=True,
                                    timeout=600)
        except subprocess.TimeoutExpired:
            result = None
        found = glob.glob(os.path.join(download, "*.tar.gz"))
        if result is None or result.returncode != 0 or not found:
            lines = [] if result is None else [
                line.strip() for line in (result.stderr + result.stdout).splitlines()
                if line.strip() and "is ignored: it is neither a file nor a directory" not in line]
            why = "timed out after 600 s" if result is None else (
                lines[-1] if lines else "exit status %d" % result.returncode)
            raise Seq2SeqError(
                "cannot download Lasagne 0.1's sdist from PyPI (pip download --no-deps "
                "--no-binary :all: %s: %s): connect to PyPI, or put %s in %s"
                % (REQUIREMENT, why, SDIST, folder))
        os.replace(found[0], path)  # atomic: a half-written file never counts as cached
    return path


def unpack_tests(sdist, folder):
    """Copy the sdist's ``lasagne/tests`` into ``folder/tests``, with the conftest.

    Parameters
    ----------
    sdist : str
        Path of ``Lasagne-0.1.tar.gz``.
    folder : str
        An empty folder: gets ``tests/``, ``conftest.py`` and ``pytest.ini``.

    Returns
    -------
    str
        ``folder/tests``.
    """
    tests = os.path.join(folder, "tests")
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            if not member.name.startswith(TESTS_IN_SDIST) or not (member.isfile()
                                                                 or member.isdir()):
                continue
            relative = member.name[len(TESTS_IN_SDIST):]
            if not relative or relative.startswith("/") or ".." in relative.split("/"):
                continue
            target = os.path.join(tests, relative)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.extractfile(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
    with open(os.path.join(folder, "conftest.py"), "w") as out:
        out.write(CONFTEST % {"gpu_skip": GPU_SKIP, "gpu_reason": GPU_REASON,
                              "examples_reason": EXAMPLES_REASON,
                              "test_side_problems": TEST_SIDE_PROBLEMS})
    with open(os.path.join(folder, "pytest.ini"), "w") as out:
        out.write(PYTEST_INI)
    return tests


def run_suite(selection=("tests",), pytest_args=(), python=sys.executable, sdist=None,
              capture=False):
    """Run Lasagne's tests (``selection``, paths as in :data:`SUBSET`) in a fresh folder.

    Parameters
    ----------
    selection : sequence of str
        Test paths or node ids relative to the folder (``tests`` for all).
    pytest_args : sequence of str
        More arguments for pytest.
    python : str
        The interpreter with the installed Lasagne and lasagne_seq2seq.
    sdist : str, optional
        The sdist; :func:`download_sdist` by default.
    capture : bool
        Return pytest's output instead of printing it.

    Returns
    -------
    subprocess.CompletedProcess
        pytest's, in the temporary folder (deleted afterwards).
    """
    if python == sys.executable and importlib.util.find_spec("mock") is None:
        raise Seq2SeqError("Lasagne 0.1's tests need the mock backport (requirements.txt): "
                           "run `bash setup.sh`, or `pip install mock`")
    sdist = sdist or download_sdist(python=python)
    with tempfile.TemporaryDirectory(prefix="lasagne-0.1-tests-") as folder:
        unpack_tests(sdist, folder)
        command = [python, "-m", "pytest", "-p", "no:cacheprovider", "-rsxf",
                   *pytest_args, *selection]
        return subprocess.run(command, check=False, cwd=folder, text=True,
                              capture_output=capture)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", action="store_true",
                        help="only the quick subset: %s" % ", ".join(SUBSET))
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        result = run_suite(SUBSET if args.subset else ["tests"], ["-q", *args.pytest_args])
    except Seq2SeqError as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    print("Lasagne 0.1's tests (%s): pytest exit status %d in %.0f s" % (
        "subset" if args.subset else "all", result.returncode, time.perf_counter() - started))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
