#!/usr/bin/env python
"""Freeze a trained model into one self-contained file for serving.

Writes RUN_DIR's parameters, vocabulary and config (no optimiser state) as
a versioned .npz with a SHA-256 checksum; bin/serve.py and bin/chat.py load it
without the run directory or any training code.
"""
import argparse
import os

from lasagne_seq2seq.cli import ArgumentParser, run_main
from lasagne_seq2seq.serve.export import export_model


def main(argv):
    parser = ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="run directory written by bin/train.py")
    parser.add_argument("out", help="the file to write, e.g. chatbot.npz")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which checkpoint of the run to export (default best)")
    args = parser.parse_args(argv)
    header = export_model(args.run_dir, args.out, args.checkpoint)
    print("exported %s (%s) -> %s: %d parameter arrays, %d vocabulary entries, %.1f MB, sha256 %s"
          % (args.run_dir, args.checkpoint, args.out, len(header["params"]),
             len(header["vocab"]), os.path.getsize(args.out) / 1e6, header["sha256"]))
    return 0


if __name__ == "__main__":
    run_main(main)
