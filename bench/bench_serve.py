#!/usr/bin/env python
"""The HTTP server under load: concurrent clients on loopback, keep-alive.

Starts ``bin/serve.py`` on 127.0.0.1 (a free port) and, for each client
count, has that many threads send greedy ``POST /reply`` requests over
persistent connections until ``--requests`` are sent or ``--max-seconds``
pass. Prints per level: answered (200) of sent, lost (a connection reset or
closed, a timeout), other statuses, requests/s, latency p50/p95/p99; and the
CPU, with the share of it other processes used meanwhile (above a few percent
the figures are disturbed). Targets on 2 cores: 0 lost of 10,000 at 128
clients; >= 400 requests/s and p95 <= 250 ms at 32 clients.

Without RUN_DIR it first trains a tiny model (a 32-unit LSTM that reverses
three-letter phrases, ~30 s) in a temporary folder.

    .venv/bin/python bench/bench_serve.py [RUN_DIR] [--clients 8,32,128]
        [--requests 10000] [--max-seconds 60]
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LETTERS = "abcdefghijkl"


def phrase(rng):
    """A random three-letter-word phrase, e.g. ``"k a c"``."""
    return " ".join(rng.choice(LETTERS) for _ in range(3))


def train_tiny(folder):
    """Train the reversal model of tests/test_serving.py in ``folder``; its run dir."""
    from lasagne_seq2seq.config import RunConfig
    from lasagne_seq2seq.train.run import train_run
    rng = random.Random(0)
    corpus = Path(folder) / "reverse.txt"
    corpus.write_text("".join("%s\n%s\n" % (p, " ".join(reversed(p.split())))
                              for p in (phrase(rng) for _ in range(2000))))
    config = RunConfig()
    config.data.corpus, config.data.format, config.data.pairing = str(corpus), "plain", "alternate"
    config.data.max_src_len = config.data.max_tgt_len = 4
    config.data.valid_fraction, config.data.test_fraction = 0.05, 0.0
    config.model.embedding_size = config.model.hidden_size = 32
    config.train.batch_size, config.train.buckets, config.train.epochs = 32, 1, 2
    config.train.validate_every, config.train.sample_every = 100, 0
    config.train.learning_rate = 0.01
    run_dir = str(Path(folder) / "run")
    train_run(config, run_dir, progress_bar=False, log=lambda line: None)
    return run_dir


def start_server(run_dir):
    """``bin/serve.py RUN_DIR`` on a free loopback port: ``(process, port)``."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bin" / "serve.py"), run_dir, "--host", "127.0.0.1",
         "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = server.stdout.readline()
    if not line.startswith("serving "):
        server.kill()
        raise SystemExit("bin/serve.py did not start: %r" % line)
    return server, int(line.split(" on ")[1].split()[0].rsplit(":", 1)[1])


def cpu_ticks(pids):
    """``(busy ticks of all CPUs, ticks of pids and this process)`` from /proc."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    ours = 0
    for pid in pids + [os.getpid()]:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read().rsplit(")", 1)[1].split()
        ours += int(stat[11]) + int(stat[12])  # utime, stime
    return busy, ours


def load(port, clients, requests, max_seconds, timeout=30):
    """Send ``requests`` from ``clients`` threads; statuses, latencies (s), lost, wall."""
    counter = iter(range(requests))
    lock = threading.Lock()
    statuses, latencies, lost = {}, [], []
    stop_at = time.monotonic() + max_seconds

    def client(seed):
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        while time.monotonic() < stop_at:
            with lock:
                if next(counter, None) is None:
                    break
            body = json.dumps({"text": phrase(rng)})
            started = time.perf_counter()
            try:
                connection.request("POST", "/reply", body,
                                   {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    lost.append(type(error).__name__)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                continue
            elapsed = time.perf_counter() - started
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(elapsed)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, latencies, lost, time.perf_counter() - started


def cpu_name():
    """The CPU's model name from ``lscpu``, with the number of CPUs."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")]
    return "%s, %d CPUs" % (names[0] if names else "unknown CPU", os.cpu_count())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", help="trained run (default: train a tiny one)")
    parser.add_argument("--clients", default="8,32,128", help="client counts, comma-separated")
    parser.add_argument("--requests", type=int, default=10000, help="requests per client count")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="stop each client count after this long")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.run_dir:
            run_dir = args.run_dir
        else:
            started = time.time()
            run_dir = train_tiny(folder)
            print("trained a tiny model in %.0f s" % (time.time() - started), flush=True)
        server, port = start_server(run_dir)
        try:
            print("CPU: %s" % cpu_name())
            print("%7s %14s %5s %8s %10s %8s %8s %8s %8s" % (
                "clients", "answered", "lost", "other", "req/s", "p50 ms", "p95 ms", "p99 ms",
                "others"))
            for clients in (int(value) for value in args.clients.split(",")):
                before = cpu_ticks([server.pid])
                statuses, latencies, lost, wall = load(port, clients, args.requests,
                                                       args.max_seconds)
                after = cpu_ticks([server.pid])
                others = ((after[0] - before[0]) - (after[1] - before[1])) / (
                    os.sysconf("SC_CLK_TCK") * wall * os.cpu_count())
                ok = statuses.get(200, 0)
                sent = sum(statuses.values()) + len(lost)
                p50, p95, p99 = (1000 * np.percentile(latencies, [50, 95, 99]) if latencies
                                 else (float("nan"),) * 3)
                print("%7d %14s %5d %8d %10.0f %8.0f %8.0f %8.0f %7.0f%%" % (
                    clients, "%d/%d" % (ok, sent), len(lost), sent - ok - len(lost),
                    ok / wall, p50, p95, p99, 100 * max(others, 0)), flush=True)
                if lost or sent != ok:
                    print("        lost: %s; statuses: %s" % (
                        ", ".join(sorted(set(lost))) or "none", statuses))
        finally:
            server.terminate()
            server.wait(60)


if __name__ == "__main__":
    main()
