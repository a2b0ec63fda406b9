"""Data-parallel training over MPI: two ranks take the step one rank takes on
the whole batch, resume across process counts, and a failing or killed rank
stops every rank."""
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.data.toy import write_toy_task
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.rundir import RunDir, load_checkpoint
from lasagne_seq2seq.train.distributed import check_distributable
from lasagne_seq2seq.train.mpi import GradientBuckets, World, launch_command

ROOT = Path(__file__).resolve().parents[1]
TRAIN = str(ROOT / "bin" / "train.py")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    train, _ = write_toy_task(str(tmp_path_factory.mktemp("toy")), "reversed_phrases",
                              train_pairs=400, test_pairs=10, vocab_size=60)
    return train


def train_args(corpus, run_dir, *extra):
    return ["--corpus", corpus, "--format", "plain", "--pairing", "alternate",
            "--tokenizer", "classic", "--vocab-size", "100", "--max-src-len", "4",
            "--max-tgt-len", "4", "--hidden-size", "16", "--embedding-size", "8",
            "--validate-every", "2", "--sample-every", "0", "--buckets", "1",
            # No dropout: each rank draws its own masks, so 2 x 8 pairs would
            # not match 1 x 16 (the default preset's linear decay stays).
            "--dropout", "0", "--learning-rate", "0.01", "--no-progress",
            "--run-dir", str(run_dir)] + list(extra)


def train(*args, timeout=600):
    result = subprocess.run([sys.executable, TRAIN] + list(args), capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def parameters(run_dir):
    return load_checkpoint(RunDir(str(run_dir)).checkpoint("last"))


@pytest.fixture(scope="module")
def one_rank_runs(corpus, tmp_path_factory):
    """v1 and attention trained 4 steps in one process, batch 16."""
    folder = tmp_path_factory.mktemp("one")
    for model in ("v1", "attention"):
        train(*train_args(corpus, folder / model, "--model", model, "--batch-size", "16",
                          "--max-steps", "4"))
    return folder


@pytest.mark.parametrize("model", ["v1", "attention"])
def test_two_ranks_with_half_batches_take_the_one_rank_steps(corpus, one_rank_runs, tmp_path,
                                                             model):
    train(*train_args(corpus, tmp_path / "two", "--model", model, "--batch-size", "8",
                      "--max-steps", "4", "--workers", "2"))
    one, two = parameters(one_rank_runs / model), parameters(tmp_path / "two")
    assert one["progress"]["step"] == two["progress"]["step"] == 4
    assert two["progress"]["world_size"] == 2
    for name, value in one["params"].items():
        np.testing.assert_allclose(two["params"][name], value, rtol=1e-4, atol=1e-6,
                                   err_msg=name)
    # The validation, sharded over the ranks and reduced, is the one-rank figure.
    assert two["progress"]["best_valid_ppl"] == pytest.approx(
        one["progress"]["best_valid_ppl"], rel=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed: bash setup.sh --with-jax")
def test_two_jax_ranks_take_the_one_rank_steps_of_the_c_back_end(corpus, one_rank_runs,
                                                                 tmp_path):
    """--backend jax under MPI: each rank's XLA step, its gradients reduced."""
    train(*train_args(corpus, tmp_path / "two", "--model", "v1", "--batch-size", "8",
                      "--max-steps", "4", "--workers", "2", "--backend", "jax"))
    one, two = parameters(one_rank_runs / "v1"), parameters(tmp_path / "two")
    assert two["progress"]["step"] == 4 and two["progress"]["world_size"] == 2
    for name, value in one["params"].items():
        np.testing.assert_allclose(two["params"][name], value, rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_a_one_rank_run_resumes_on_two_ranks(corpus, one_rank_runs, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(one_rank_runs / "v1", run_dir)
    result = train("--resume", str(run_dir), "--max-steps", "6", "--workers", "2")
    assert "resuming a run of 1 process with 2" in result.stdout + result.stderr
    resumed = parameters(run_dir)
    assert (resumed["progress"]["step"], resumed["progress"]["world_size"]) == (6, 2)
    before = parameters(one_rank_runs / "v1")["params"]
    assert any(not np.allclose(before[name], value) for name, value in resumed["params"].items())
    from lasagne_seq2seq.models.registry import load_model
    load_model(str(run_dir), "last")


def test_an_error_every_rank_meets_is_reported_once_with_its_rank(tmp_path):
    result = subprocess.run([sys.executable, TRAIN, "--corpus", str(tmp_path / "none.txt"),
                             "--run-dir", str(tmp_path / "run"), "--workers", "2"],
                            capture_output=True, text=True, timeout=300)
    # Open MPI's launcher writes a NUL byte of its own when a rank aborts; it lands
    # before or after our line as the streams interleave.
    ours = [line for line in result.stderr.replace("\0", "").splitlines()
            if line.startswith("error: ")]
    assert result.returncode != 0
    assert len(ours) == 1 and ours[0].startswith(
        "error: rank 0 of 2: corpus file %s not found" % (tmp_path / "none.txt")), result.stderr
    assert ours[0].endswith("(stopping every rank)")


def rank_process(rank, marker):
    """The pid of the training rank ``rank`` whose command line holds ``marker``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path("/proc", entry, "cmdline").read_bytes().split(b"\0")
            env = Path("/proc", entry, "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in command and b"OMPI_COMM_WORLD_RANK=%d" % rank in env:
            return int(entry)
    return None


def test_a_killed_rank_stops_every_rank_and_the_checkpoint_survives(corpus, tmp_path):
    run_dir = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, TRAIN] + train_args(corpus, run_dir, "--batch-size", "8",
                                             "--max-steps", "100000", "--workers", "2"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 500
        while not (run_dir / "last.npz").exists() and time.time() < deadline:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.5)
        victim = rank_process(1, str(run_dir))
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        killed = time.time()
        process.wait(timeout=60)
        assert time.time() - killed < 60
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0
    assert parameters(run_dir)["progress"]["step"] >= 2


def test_gradient_buckets_carry_every_gradient_in_few_buffers():
    shapes = [(3, 4), (5,), (2, 2), (7,)]
    buckets = GradientBuckets(shapes, bucket_bytes=4 * 14)
    assert len(buckets.buffers) == 3  # 2 + 12 | 5 + 4 | 7: the loss and tokens ride first
    grads = [np.full(shape, i + 1.0) for i, shape in enumerate(shapes)]
    loss, tokens, summed = buckets.reduce(World(), 2.5, 9, grads)
    assert (loss, tokens) == (2.5, 9.0)
    for grad, view in zip(grads, summed):
        np.testing.assert_array_equal(grad, view)
    assert all(view.base is not None for view in summed)  # views of the buffers
    _, _, empty = buckets.reduce(World(), 0.0, 0, None)  # a rank with no pairs this step
    assert not any(view.any() for view in empty)


def test_local_ranks_share_the_cores_and_may_run_as_root(tmp_path):
    fake = tmp_path / "mpiexec"
    fake.write_text("#!/bin/sh\necho 'mpiexec (Open MPI) 5.0.11'\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    saved, os.environ = os.environ, env
    try:
        command, child = launch_command(2, "bin/train.py", ["--max-steps", "3"], str(fake))
    finally:
        os.environ = saved
    assert command[:3] == [str(fake), "-n", "2"] and command[-3:-2] == ["bin/train.py"]
    assert command[-2:] == ["--max-steps", "3"] and "--oversubscribe" in command
    assert child["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    assert (child.get("OMPI_ALLOW_RUN_AS_ROOT") == "1") == (os.geteuid() == 0)


@pytest.mark.parametrize("section, field, value, flag", [
    ("model", "remember_state", True, "--remember-state"),
    ("model", "norm_stabilizer", 0.5, "--norm-stabilizer"),
    ("model", "devices", "encoder=dev0", "--devices"),
])
def test_what_ranks_cannot_share_yet_is_refused_in_one_line(section, field, value, flag):
    config = RunConfig()
    setattr(getattr(config, section), field, value)
    with pytest.raises(Seq2SeqError, match="several workers cannot train with %s" % flag):
        check_distributable(config)


def test_ctrl_c_stops_every_rank_at_one_step_and_rank_0_saves_once(corpus, tmp_path):
    run_dir = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, TRAIN] + train_args(corpus, run_dir, "--batch-size", "8",
                                             "--max-steps", "100000", "--workers", "2"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.time() + 500
        while not (run_dir / "last.npz").exists() and time.time() < deadline:
            assert process.poll() is None
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
        output = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output[-2000:]
    assert output.count("interrupted: saved %s" % (run_dir / "last.npz")) == 1, output[-2000:]
    assert parameters(run_dir)["progress"]["step"] >= 2
