#!/usr/bin/env python
"""Evaluate a trained model on held-out pairs.

Prints perplexity per word and per token, corpus BLEU (sacreBLEU's, 0-100), distinct-1/2, mean
reply length and the share of the most frequent reply as a table, and writes
them (with a few example replies) as JSON, by default RUN_DIR/evaluation.json.
A multi-turn run (bin/train.py --remember-state) is evaluated conversation by
conversation, the encoder state carried from exchange to exchange as in its
training (--zero-memory: from zeros at every exchange).

Examples:
  python bin/evaluate.py runs/default
  python bin/evaluate.py runs/default --beam 10 --json beam.json
  python bin/evaluate.py runs/default --pairs data/test/reversed_phrases.txt --format plain
  python bin/evaluate.py runs/default --strategy beam --lm runs/default-lm --antilm-lambda 0.5
"""
import argparse
import os

from lasagne_seq2seq.cli import (ArgumentParser, add_device_flags, add_flags, decode_options,
                                 run_main, select_device)
from lasagne_seq2seq.decode.options import DecodeOptions  # NumPy only
from lasagne_seq2seq.evaluation.evaluate import DEFAULT_MAX_PAIRS


def parse_args(argv):
    parser = ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="run directory written by bin/train.py")
    parser.add_argument("--pairs", metavar="FILE",
                        help="evaluate on this corpus file instead of the run's held-out test split")
    parser.add_argument("--format", default="auto",
                        help="format of --pairs: auto, script, plain, cornell, tsv")
    parser.add_argument("--max-pairs", type=int, default=DEFAULT_MAX_PAIRS,
                        help="evaluate the first N pairs (0: all; default %d)" % DEFAULT_MAX_PAIRS)
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best")
    parser.add_argument("--json", metavar="FILE",
                        help="where to write the results (default RUN_DIR/evaluation.json)")
    parser.add_argument("--lm", metavar="RUN_DIR", help="language model for --antilm-lambda")
    parser.add_argument("--backward", metavar="RUN_DIR", help="backward model for --mmi-bidi-lambda")
    parser.add_argument("--zero-memory", action="store_true",
                        help="a --remember-state run: start every exchange's encoder from zeros "
                             "instead of carrying the state through each conversation (the "
                             "default, as training validates), to measure what the memory adds")
    add_device_flags(parser)
    add_flags(parser, DecodeOptions, title="decoding (as bin/test.py)")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    # Before the slow loading: bad flags fail at once.
    options = decode_options(args, has_lm=bool(args.lm), has_backward=bool(args.backward))
    select_device(args.device, args.backend)
    from lasagne_seq2seq.files import write_json
    from lasagne_seq2seq.evaluation.evaluate import evaluate_run, format_table
    results = evaluate_run(args.run_dir, pairs=args.pairs, options=options, which=args.checkpoint,
                           max_pairs=args.max_pairs or None, fmt=args.format, lm_dir=args.lm,
                           backward_dir=args.backward,
                           carry_state=False if args.zero_memory else None)
    print(format_table(results))
    path = args.json or os.path.join(args.run_dir, "evaluation.json")
    write_json(results, path)
    print("written to %s" % path)
    return 0


if __name__ == "__main__":
    run_main(main)
