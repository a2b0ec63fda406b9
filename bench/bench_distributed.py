#!/usr/bin/env python
"""Data-parallel training over MPI: throughput, the Allreduce's share, bandwidth.

For each size (default, paper) it trains the prepared chitchat corpus for a
fixed number of steps, as one process with every core and as N processes
with cores / N threads each (bin/train.py --workers N, --batch-size per
rank halved so that the global batch is the same), and prints target
tokens/s, the parallel efficiency (N-rank tokens/s over one rank's) and the
share of a step spent in Allreduce. It then times a float32 Allreduce
between N local ranks for a few message sizes and, from the bandwidth
measured, states a model of the step on k machines: a ring Allreduce moves
2(k-1)/k x bytes over each link.

    .venv/bin/python bench/bench_distributed.py [--sizes default,paper] [--workers 2]

Not a test: it takes minutes and its figures depend on the machine (the
CPU is printed first); run it on a quiet machine.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRAIN = str(ROOT / "bin" / "train.py")
STEPS = {"default": 60, "paper": 16}
LINKS_GBIT = (1, 10, 25, 100)
MACHINES = (2, 4, 8, 16)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def train(size, workers, batch_size, run_dir):
    """Train ``STEPS[size]`` steps; the run's progress record."""
    command = [sys.executable, TRAIN, "--preset", size, "--batch-size", str(batch_size),
               "--max-steps", str(STEPS[size]), "--validate-every", "0", "--sample-every", "0",
               "--max-minutes", "0", "--no-progress", "--run-dir", run_dir, "--overwrite"]
    if workers > 1:
        command += ["--workers", str(workers)]
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(max(1, (os.cpu_count() or 1) // workers))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit("bin/train.py failed:\n%s" % result.stderr[-2000:])
    with np.load(os.path.join(run_dir, "last.npz"), allow_pickle=False) as archive:
        return json.loads(str(archive["progress"]))


ALLREDUCE = r"""
import time, numpy as np
from mpi4py import MPI
comm = MPI.COMM_WORLD
for mb in (1, 4, 16, 64):
    buf = np.ones(mb * (1 << 20) // 4, np.float32)
    for _ in range(3):
        comm.Allreduce(MPI.IN_PLACE, [buf, MPI.FLOAT])
    comm.Barrier()
    start = time.perf_counter()
    for _ in range(20):
        comm.Allreduce(MPI.IN_PLACE, [buf, MPI.FLOAT])
    seconds = (time.perf_counter() - start) / 20
    if comm.rank == 0:
        print("%d %.6f" % (mb, seconds), flush=True)
"""


def allreduce_times(workers):
    """Seconds of one float32 Allreduce of 1, 4, 16, 64 MB between local ranks."""
    sys.path.insert(0, str(ROOT))
    from lasagne_seq2seq.train.mpi import launch_command, mpiexec_path
    command, env = launch_command(workers, "-c", [ALLREDUCE], mpiexec_path())  # python -c
    output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return {int(mb): float(seconds) for mb, seconds in
            (line.split() for line in output.splitlines() if re.match(r"^\d+ ", line))}


def parameter_bytes(size):
    sys.path.insert(0, str(ROOT))
    from lasagne_seq2seq.config import preset
    from lasagne_seq2seq.models.registry import build_network
    config = preset(size)
    net = build_network(config.model, config.data.vocab_size)
    return 4 * sum(p.get_value(borrow=True).size for p in net.params)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="default,paper")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.workers
    print("CPU: %s, %d cores; %d ranks" % (cpu_name(), os.cpu_count() or 1, n))
    times = allreduce_times(n)
    bandwidth = max(mb * (1 << 20) / seconds for mb, seconds in times.items())
    for mb, seconds in sorted(times.items()):
        print("Allreduce %3d MB between %d local ranks: %7.2f ms (%.2f GB/s)"
              % (mb, n, seconds * 1e3, mb * (1 << 20) / seconds / 1e9))
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes.split(","):
            from lasagne_seq2seq.config import preset
            batch = preset(size).train.batch_size
            one = train(size, 1, batch, os.path.join(folder, size + "-1"))
            many = train(size, n, batch // n, os.path.join(folder, size + "-%d" % n))
            step = many["train_seconds"] / many["step"]
            share = many.get("allreduce_seconds", 0.0) / many["train_seconds"]
            print("%-7s 1 rank x %d threads: %8.0f tokens/s | %d ranks x %d thread(s): %8.0f "
                  "tokens/s | efficiency %.2f | Allreduce %.1f%% of a %.0f ms step"
                  % (size, os.cpu_count() or 1, one["tokens_per_second"], n,
                     max(1, (os.cpu_count() or 1) // n), many["tokens_per_second"],
                     many["tokens_per_second"] / one["tokens_per_second"], 100 * share,
                     step * 1e3))
            nbytes = parameter_bytes(size)
            compute = step * (1 - share)
            print("  model of a step on k machines (%.1f MB of gradients, %.0f ms compute):"
                  % (nbytes / 1e6, compute * 1e3))
            for link in LINKS_GBIT:
                cells = []
                for k in MACHINES:
                    reduce = 2 * (k - 1) / k * nbytes / (link * 1e9 / 8)
                    cells.append("k=%d %.0f ms (eff %.2f)" % (k, (compute + reduce) * 1e3,
                                                             compute / (compute + reduce)))
                print("    %3d Gb/s: %s" % (link, ", ".join(cells)))
            print("    loopback (%.2f GB/s measured): k=2 %.1f ms of Allreduce"
                  % (bandwidth / 1e9, nbytes / bandwidth * 1e3))


if __name__ == "__main__":
    main()
