#!/usr/bin/env python
"""Time corpus preparation and preprocessing of the default corpus.

Prints the seconds to convert chitchat from its package, and to read,
split, tokenize and encode all of it (build_dataset), against the 60 s target.

    .venv/bin/python bench/bench_preprocess.py [--corpus chitchat] [--tokenizer default]
"""
import argparse
import os
import tempfile
import time

from lasagne_seq2seq.corpora import CORPORA
from lasagne_seq2seq.data import build_dataset

TARGET_SECONDS = 60.0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="chitchat", choices=sorted(CORPORA))
    parser.add_argument("--tokenizer", default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.time()
        prepared = CORPORA[args.corpus](os.path.join(folder, "corpus.txt"))
        prepare_seconds = time.time() - started
        started = time.time()
        dataset = build_dataset(prepared.path, fmt="script", tokenizer=args.tokenizer,
                                vocab_size=8000)
        build_seconds = time.time() - started
    utterances = prepared.utterances
    total = prepare_seconds + build_seconds
    print(dataset.summary())
    print("prepare %.1f s, build_dataset %.1f s (%.0f utterances/s); total %.1f s = %.2fx "
          "the %.0f s target" % (prepare_seconds, build_seconds, utterances / build_seconds,
                                 total, total / TARGET_SECONDS, TARGET_SECONDS))


if __name__ == "__main__":
    main()
