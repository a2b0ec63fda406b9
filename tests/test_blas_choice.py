"""The BLAS chosen by timing the training step (lasagne_seq2seq.train.blas_choice):
the fastest is recorded with its figures and CPU, and the record holds until
the CPU changes, a new library comes or the chosen one goes."""
import json

import pytest

from lasagne_seq2seq.backend import compat
from lasagne_seq2seq.train import blas_choice

CANDIDATES = {"mkl": "-L/v/lib -l:libmkl_rt.so.3", "openblas-openmp": "-L/o -lopenblas"}


def test_the_fastest_is_recorded_with_every_figure(tmp_path):
    record, lines = str(tmp_path / "blas.json"), []
    times = {CANDIDATES["mkl"]: 61.5, CANDIDATES["openblas-openmp"]: 58.25}
    assert blas_choice.choose(CANDIDATES, times.get, record, lines.append) == "openblas-openmp"
    saved = json.load(open(record))
    assert saved["choice"] == "openblas-openmp"
    assert saved["ldflags"] == CANDIDATES["openblas-openmp"]
    assert saved["ms_per_step"] == {"mkl": 61.5, "openblas-openmp": 58.25}
    assert saved["cpu"] == blas_choice.cpu_name()
    assert "openblas-openmp (58.2 ms a step; mkl 61.5)" in lines[-1]
    with pytest.raises(RuntimeError, match="no BLAS to link"):
        blas_choice.choose({}, times.get, record, lines.append)


def test_the_record_holds_until_the_cpu_or_the_libraries_change(tmp_path, monkeypatch):
    record = str(tmp_path / "blas.json")
    blas_choice.choose(CANDIDATES, {CANDIDATES["mkl"]: 50.0,
                                    CANDIDATES["openblas-openmp"]: 70.0}.get, record,
                       lambda line: None)
    assert blas_choice.recorded_choice(record, CANDIDATES) == "mkl"
    openblas_only = {"openblas-openmp": CANDIDATES["openblas-openmp"]}
    assert blas_choice.recorded_choice(record, openblas_only) is None  # the choice is gone
    blas_choice.choose(CANDIDATES, {CANDIDATES["mkl"]: 90.0,
                                    CANDIDATES["openblas-openmp"]: 70.0}.get, record,
                       lambda line: None)
    # setup.sh removed the slower MKL: still the record of this machine.
    assert blas_choice.recorded_choice(record, openblas_only) == "openblas-openmp"
    assert blas_choice.recorded_choice(record, dict(CANDIDATES, openblas="-lopenblas")) is None
    monkeypatch.setattr(blas_choice, "cpu_name", lambda: "another CPU")
    assert blas_choice.recorded_choice(record, CANDIDATES) is None
    assert blas_choice.recorded_choice(str(tmp_path / "none.json"), CANDIDATES) is None


def test_the_training_step_is_timed_in_a_process_of_its_own():
    ms = blas_choice.measure_step(compat.blas_ldflags(), steps=1)
    assert 1 < ms < 60000
