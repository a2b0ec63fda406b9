#!/usr/bin/env python
"""Steady-state training throughput of the trainer's own compiled step.

For each size it builds the network, compiles the training step exactly as
bin/train.py does (unrolled, Adam, clipping), runs warm-up steps on random
full-length batches, then times steps and prints target tokens/s, step time
and compile time.

    .venv/bin/python bench/bench_train.py [--sizes default,paper] [--steps 20]
"""
import argparse
import tempfile
import time

import numpy as np

from lasagne_seq2seq.rundir import RunDir
from lasagne_seq2seq.config import preset
from lasagne_seq2seq.data.batches import Dataset, EncodedPairs, iterate_batches
from lasagne_seq2seq.models.registry import build_network
from lasagne_seq2seq.train.trainer import Trainer
from lasagne_seq2seq.data.vocab import SPECIALS, Vocabulary


def random_pairs(config, count, rng):
    vocab_size, src_len, tgt_len = (config.data.vocab_size, config.data.max_src_len,
                                    config.data.max_tgt_len)
    draw = lambda n: rng.randint(len(SPECIALS), vocab_size, n).astype(np.int32)  # noqa: E731
    return EncodedPairs([draw(src_len) for _ in range(count)],
                        [draw(tgt_len) for _ in range(count)])


def bench(size, steps):
    config = preset(size)
    config.train.buckets = 1  # every batch full length: the worst case, no padding
    rng = np.random.RandomState(0)
    vocab = Vocabulary(list(SPECIALS) + ["w%d" % i for i in range(config.data.vocab_size - 4)])
    pairs = random_pairs(config, config.train.batch_size * (steps + 3), rng)
    dataset = Dataset(vocab, pairs, EncodedPairs(), EncodedPairs(), {})
    net = build_network(config.model, len(vocab))
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(net, dataset, config, RunDir(folder), log=lambda line: None)
        batches = list(iterate_batches(pairs, config.train.batch_size, buckets=trainer.buckets))
        started = time.time()
        step = trainer.train_function((batches[0].src.shape[1], batches[0].tgt_in.shape[1]))
        compile_seconds = time.time() - started
        run = lambda b: step(b.src, b.src_mask, b.tgt_in, b.tgt_out, b.tgt_mask)  # noqa: E731
        for batch in batches[:3]:
            run(batch)
        started = time.time()
        tokens = sum(float(run(batch)[1]) for batch in batches[3:])
        seconds = time.time() - started
    m = config.model
    print("%-7s vocab %5d, emb %3d, hidden %3d, batch %d, length %d: %6.0f target tokens/s, "
          "%5.0f ms/step (compile %.0f s)" % (
              size, config.data.vocab_size, m.embedding_size, m.hidden_size,
              config.train.batch_size, config.data.max_tgt_len, tokens / seconds,
              1000 * seconds / (len(batches) - 3), compile_seconds))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="default,paper", help="presets to measure")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per size")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        bench(size, args.steps)


if __name__ == "__main__":
    main()
