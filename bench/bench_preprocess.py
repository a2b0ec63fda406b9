#!/usr/bin/env python
"""Time corpus preparation and preprocessing of the default corpus.

Converts chitchat from its package into a temporary folder, then reads,
splits, tokenizes and encodes all of it (build_dataset) twice: cold, and
again with the tokenized corpus cached. Prints wall and CPU seconds (the CPU
figure is the one to compare on a shared machine) against the 60 s target.

    .venv/bin/python bench/bench_preprocess.py [--corpus chitchat] [--tokenizer default]
"""
import argparse
import os
import tempfile
import time

from lasagne_seq2seq.data import batches as data
from lasagne_seq2seq.data.corpora import CORPORA
from lasagne_seq2seq.data.text import TOKENIZER_MODES

TARGET_SECONDS = 60.0


def timed(function, *args, **kwargs):
    """``function``'s result, wall seconds and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="chitchat", choices=sorted(CORPORA))
    parser.add_argument("--tokenizer", default="default", choices=TOKENIZER_MODES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data.CACHE_DIR = folder  # a cold cache, and no file left in data/cache
        prepared, *prepare_times = timed(CORPORA[args.corpus], os.path.join(folder, "corpus.txt"))
        runs = []
        for label in ("cold", "cached"):
            dataset, wall, cpu = timed(data.build_dataset, prepared.path, fmt="script",
                                       tokenizer=args.tokenizer, vocab_size=8000)
            runs.append((label, wall, cpu))
    print(dataset.summary())
    print("prepare %s: %.1f s wall, %.1f s CPU" % (args.corpus, *prepare_times))
    for label, wall, cpu in runs:
        total = prepare_times[0] + wall
        print("build_dataset %-6s %.1f s wall, %.1f s CPU (%.0f utterances/s); prepare + "
              "build %.1f s wall = %.2fx the %.0f s target" % (
                  label, wall, cpu, prepared.utterances / wall, total, total / TARGET_SECONDS,
                  TARGET_SECONDS))


if __name__ == "__main__":
    main()
