#!/usr/bin/env python
"""Chat with a model in the terminal.

MODEL is a file written by bin/export.py or a run directory. With
--remember, the encoder starts each turn from its final state of the turn
before (multi-turn memory); /reset forgets it, /quit or Ctrl-D leaves.
"""
import argparse
import sys

from lasagne_seq2seq.cli import (ArgumentParser, add_device_flags, add_flags, decode_options,
                                 run_main, select_device)
from lasagne_seq2seq.decode.options import DecodeOptions  # NumPy only: Theano is not imported yet


def parse_args(argv):
    parser = ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="runs/default",
                        help="exported model file or run directory (default runs/default)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="checkpoint to load when MODEL is a run directory")
    parser.add_argument("--remember", action="store_true",
                        help="carry the conversation over from turn to turn")
    parser.add_argument("--lm", metavar="MODEL",
                        help="language model of replies (bin/train.py --model lm) for anti-LM")
    parser.add_argument("--backward", metavar="MODEL",
                        help="backward model p(S|T) (bin/train.py --reverse-pairs) for MMI-bidi")
    add_device_flags(parser)
    add_flags(parser, DecodeOptions, title="decoding (as bin/test.py)")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    options = decode_options(args, has_lm=bool(args.lm), has_backward=bool(args.backward))
    select_device(args.device, args.backend)
    from lasagne_seq2seq.decode.decoder import Decoder
    from lasagne_seq2seq.serve.export import load_inference_model
    from lasagne_seq2seq.serve.chat import run_chat
    config, vocab, net = load_inference_model(args.model, args.checkpoint)
    lm = load_inference_model(args.lm) if args.lm else None
    backward = load_inference_model(args.backward) if args.backward else None
    decoder = Decoder(net, vocab, config, lm=lm, backward=backward)
    conversation = decoder.start_conversation(remember=args.remember)
    run_chat(conversation, options, sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    run_main(main)
