#!/usr/bin/env python
"""Chat with a model in the terminal.

MODEL is a file written by bin/export.py or a run directory. With
--remember, the encoder starts each turn from its final state of the turn
before (multi-turn memory); /reset forgets it, /quit or Ctrl-D leaves.
"""
import argparse
import sys

from lasagne_seq2seq.cli import run_main, select_device


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="runs/default",
                        help="exported model file or run directory (default runs/default)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="checkpoint to load when MODEL is a run directory")
    parser.add_argument("--remember", action="store_true",
                        help="carry the conversation over from turn to turn")
    parser.add_argument("--strategy", choices=("greedy", "beam", "sample"), default="greedy")
    parser.add_argument("--beam", type=int, default=10, help="beam width (--strategy beam)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="softmax temperature (--strategy sample)")
    parser.add_argument("--max-len", type=int, help="longest reply in tokens")
    parser.add_argument("--device", help="cpu (default) or cuda; needs pygpu for cuda")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    select_device(args.device)
    from lasagne_seq2seq.decode.options import DecodeOptions
    from lasagne_seq2seq.decode.decoder import Decoder
    from lasagne_seq2seq.serve.export import load_inference_model
    from lasagne_seq2seq.serve.chat import run_chat
    options = DecodeOptions(strategy=args.strategy, beam=args.beam,
                            temperature=args.temperature, max_len=args.max_len)
    options.validate()
    config, vocab, net = load_inference_model(args.model, args.checkpoint)
    conversation = Decoder(net, vocab, config).start_conversation(remember=args.remember)
    run_chat(conversation, options, sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    run_main(main)
