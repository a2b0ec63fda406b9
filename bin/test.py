#!/usr/bin/env python
"""Print a trained model's replies to sample questions.

With no arguments: the model in runs/default answers the questions of the
original README's two result tables, one `question -> reply` line each.
"""
import argparse
import sys

from lasagne_seq2seq.cli import run_main, select_device


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", default="runs/default",
                        help="run directory written by bin/train.py (default: runs/default)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--questions", metavar="FILE", help="one question per line (UTF-8)")
    source.add_argument("--interactive", action="store_true", help="type questions, get replies")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which checkpoint of the run to load")
    parser.add_argument("--max-len", type=int, help="longest reply in tokens")
    parser.add_argument("--device", help="cpu (default) or cuda; needs pygpu for cuda")
    return parser.parse_args(argv)


def read_questions(path):
    from lasagne_seq2seq.errors import Seq2SeqError
    try:
        with open(path, encoding="utf-8") as handle:
            questions = [line.strip() for line in handle if line.strip()]
    except FileNotFoundError:
        raise Seq2SeqError("questions file %s not found" % path)
    except UnicodeDecodeError as error:
        raise Seq2SeqError("%s is not UTF-8 (byte %d): convert it with iconv" % (path, error.start))
    if not questions:
        raise Seq2SeqError("%s holds no questions (one per line expected)" % path)
    return questions


def print_replies(decoder, questions, out=sys.stdout):
    width = min(max(len(q) for q in questions), 45)
    for question, reply in zip(questions, decoder.reply(questions)):
        note = "  [unknown: %s]" % ", ".join(reply.unknown) if reply.unknown else ""
        out.write("%-*s -> %s   (mean log-prob %.2f)%s\n"
                  % (width, question, reply.text, reply.mean_log_prob, note))
    out.flush()


def main(argv):
    args = parse_args(argv)
    select_device(args.device)
    from lasagne_seq2seq.checkpoint import load_model
    from lasagne_seq2seq.decoding import SAMPLE_QUESTIONS, Decoder
    config, vocab, net = load_model(args.run_dir, args.checkpoint)
    decoder = Decoder(net, vocab, config, max_len=args.max_len)
    if args.interactive:
        print("type a question (empty line or Ctrl-D to quit)")
        for line in sys.stdin:
            if not line.strip():
                break
            print_replies(decoder, [line.strip()])
        return 0
    questions = read_questions(args.questions) if args.questions else list(SAMPLE_QUESTIONS)
    print_replies(decoder, questions)
    return 0


if __name__ == "__main__":
    run_main(main)
