"""Which BLAS Theano links, chosen by timing the main job's training step.

Which library is fastest depends on the CPU (MKL's kernels are Intel's;
OpenBLAS picks its own by CPU), and MKL adds about 690 MB to ``.venv``.
``setup.sh`` therefore times the default main job's training step (v1, the
default preset's sizes, dropout and batch, 15 + 16 steps)
with each BLAS this machine can link
(:func:`~lasagne_seq2seq.backend.compat.blas_candidates`), each in its own
process, the candidates taking turns (:func:`choose`), and records the
fastest in ``.venv/blas.json`` (:data:`RECORD`) with every figure and the
CPU it was measured on; :func:`~lasagne_seq2seq.backend.compat.blas_ldflags`
links the recorded choice from then on. A record is measured again on
another CPU, when a library appears that it did not time, or when the
chosen one has gone (:func:`recorded_choice`).

    .venv/bin/python -m lasagne_seq2seq.train.blas_choice          # measure, record, print
    .venv/bin/python -m lasagne_seq2seq.train.blas_choice --check  # exit 1 if not recorded here
    .venv/bin/python -m lasagne_seq2seq.train.blas_choice --show   # the recorded choice
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

from lasagne_seq2seq.backend.compat import BLAS_RECORD, blas_candidates
from lasagne_seq2seq.files import write_json

__all__ = ["RECORD", "cpu_name", "measure_step", "choose", "recorded_choice", "main"]

#: Where the choice is recorded: in the environment whose libraries it names.
RECORD = os.path.join(sys.prefix, BLAS_RECORD)


def cpu_name():
    """The CPU as ``lscpu`` names it, with its family and model numbers
    (VMs of different CPUs share a name such as "Intel(R) Xeon(R) Processor").
    """
    fields = {}
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key in ("model name", "cpu family", "model") and key not in fields:
                    fields[key] = value
                if not line.strip() and fields:
                    break
    except OSError:
        pass
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    return "%s (family %s, model %s)" % (fields["model name"], fields.get("cpu family", "?"),
                                          fields.get("model", "?"))


def measure_step(ldflags, steps=16, timeout=900):
    """Milliseconds per training step of the main job with BLAS ``ldflags``.

    Runs :func:`_time_step` in a new process (Theano fixes its BLAS when it
    is imported) and returns the median of ``steps`` timed steps, after two
    untimed ones.
    """
    env = dict(os.environ, THEANO_FLAGS=",".join(
        filter(None, [os.environ.get("THEANO_FLAGS", ""), "blas__ldflags=%s" % ldflags])))
    result = subprocess.run([sys.executable, "-m", "lasagne_seq2seq.train.blas_choice",
                             "--child", str(steps)],
                            env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError("timing the training step with blas__ldflags=%r failed: %s"
                           % (ldflags, (result.stderr.strip().splitlines() or ["?"])[-1]))
    return float(result.stdout.split()[-1])


def choose(candidates=None, measure=measure_step, record=RECORD, log=print, rounds=2):
    """Time every candidate, record the fastest and return its name.

    The candidates take turns, ``rounds`` times each: a candidate's figure is
    the best of its rounds, so that another job's burst on the machine
    during one round does not decide.

    Parameters
    ----------
    candidates : dict, optional
        Name to ``blas__ldflags``; ``compat.blas_candidates()`` by default.
    measure : callable
        ``measure(ldflags) -> ms per step``.
    record : str
        The JSON file to write (atomically).
    log : callable
        Receives one line per measurement and the summary.
    rounds : int
        Measurements of each candidate.
    """
    candidates = blas_candidates() if candidates is None else candidates
    if not candidates:
        raise RuntimeError("no BLAS to link (no MKL in .venv, no libopenblas.so): "
                           "run bash setup.sh, which installs OpenBLAS")
    rounds_ms = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, ldflags in candidates.items():
            rounds_ms[name].append(measure(ldflags))
            log("[blas] %-16s %7.1f ms a training step" % (name, rounds_ms[name][-1]))
    times = {name: min(ms) for name, ms in rounds_ms.items()}
    choice = min(times, key=times.get)
    cpu = cpu_name()
    write_json({"cpu": cpu, "choice": choice, "ldflags": candidates[choice],
                "ms_per_step": times, "rounds_ms": rounds_ms, "candidates": candidates,
                "measured": datetime.datetime.now().isoformat(timespec="seconds")}, record)
    log("[blas] %s: %s (%.1f ms a step; %s) -> %s" % (
        cpu, choice, times[choice],
        ", ".join("%s %.1f" % (name, t) for name, t in times.items() if name != choice)
        or "the only one", record))
    return choice


def recorded_choice(record=RECORD, candidates=None):
    """The recorded choice, if it still holds here; else None.

    It holds when it was measured on this CPU, its library is still there,
    and no library has come since (one that lost may have been removed).
    """
    try:
        with open(record) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    candidates = blas_candidates() if candidates is None else candidates
    measured = saved.get("candidates") or {}
    if saved.get("cpu") != cpu_name() or saved.get("choice") not in candidates \
            or any(measured.get(name) != flags for name, flags in candidates.items()):
        return None
    return saved["choice"]


def _time_step(steps):
    """The child of :func:`measure_step`: prints ms per step."""
    import tempfile
    import numpy as np
    from lasagne_seq2seq.config import preset
    from lasagne_seq2seq.data.batches import Dataset, EncodedPairs
    from lasagne_seq2seq.data.vocab import SPECIALS, Vocabulary
    from lasagne_seq2seq.models.registry import build_network
    from lasagne_seq2seq.rundir import RunDir
    from lasagne_seq2seq.train.trainer import Trainer
    config = preset("default")
    size, batch, n_src = config.data.vocab_size, config.train.batch_size, config.data.max_src_len
    vocab = Vocabulary(list(SPECIALS) + ["w%d" % i for i in range(size - len(SPECIALS))])
    net = build_network(config.model, size)
    empty = EncodedPairs()
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(net, Dataset(vocab, empty, empty, empty, {}), config,
                          RunDir(run_dir), log=lambda line: None)
        step = trainer.train_function((n_src, n_src + 1))
        rng = np.random.RandomState(0)
        src = rng.randint(len(SPECIALS), size, (batch, n_src)).astype("int32")
        tgt = rng.randint(len(SPECIALS), size, (batch, n_src + 1)).astype("int32")
        masks = np.ones((batch, n_src), "float32"), np.ones((batch, n_src + 1), "float32")
        times = []
        for k in range(steps + 2):
            started = time.perf_counter()
            step(src, masks[0], tgt, tgt, masks[1])
            times.append(time.perf_counter() - started)
    print("%.3f" % (1000 * float(np.median(times[2:]))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true",
                       help="exit 1 unless a choice is recorded for this CPU and these BLAS")
    group.add_argument("--show", action="store_true", help="print the recorded choice")
    group.add_argument("--child", type=int, metavar="STEPS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _time_step(args.child)
        return 0
    if args.check or args.show:
        choice = recorded_choice()
        if args.show:
            print(choice or "")
        return 0 if choice else 1
    try:
        choose()
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print("blas_choice: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
