#!/usr/bin/env python
"""Print a trained model's replies to sample questions.

With no arguments: the model in runs/default answers the questions of the
original README's two result tables, one `question -> reply` line each, by
the default decoding (top-p sampling, seeded: DEFAULT_DECODING in
lasagne_seq2seq/decode/options.py); --strategy greedy is the original's.

Examples:
  python bin/test.py --beam 10 --nbest 3
  python bin/test.py --strategy sample --temperature 0.7 --top-p 0.9 --seed 1
  python bin/test.py --strategy beam --lm runs/default-lm --antilm-lambda 0.5
  python bin/test.py --strategy beam --backward runs/default-backward --mmi-bidi-lambda 0.5
  python bin/test.py --interactive --remember     (type /reset to forget, /quit to leave)
  python bin/test.py runs/attention --attention-plot pics/attention_heatmap.png
  python bin/test.py runs/attention --questions q.txt --attention-plot 'maps/q{}.png'
"""
import argparse
import os
import sys

from lasagne_seq2seq.cli import (ArgumentParser, add_device_flags, add_flags, decode_options,
                                 run_main, select_device)
from lasagne_seq2seq.decode.options import DecodeOptions  # NumPy only: Theano is not imported yet


def parse_args(argv):
    parser = ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", default="runs/default",
                        help="run directory written by bin/train.py (default: runs/default)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--questions", metavar="FILE", help="one question per line (UTF-8)")
    source.add_argument("--interactive", action="store_true", help="type questions, get replies")
    parser.add_argument("--remember", action="store_true",
                        help="interactive: carry the conversation state across exchanges "
                             "(type /reset to forget it); off by default")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which checkpoint of the run to load")
    add_device_flags(parser)
    parser.add_argument("--attention-plot", metavar="PATH.png",
                        help="attention model: draw the heat map of the first question's reply; "
                             "a {} in PATH draws one per question, {} replaced by its number "
                             "(1, 2, ...)")

    parser.add_argument("--lm", metavar="RUN_DIR",
                        help="language model of replies (bin/train.py --model lm) for anti-LM")
    parser.add_argument("--backward", metavar="RUN_DIR",
                        help="backward model p(S|T) (bin/train.py --reverse-pairs) for MMI-bidi")
    add_flags(parser, DecodeOptions, title="decoding")
    return parser.parse_args(argv)


def read_questions(path):
    from lasagne_seq2seq.errors import Seq2SeqError
    try:
        with open(path, encoding="utf-8") as handle:
            questions = [line.strip() for line in handle if line.strip()]
    except FileNotFoundError:
        raise Seq2SeqError("questions file %s not found" % path)
    except IsADirectoryError:
        raise Seq2SeqError("--questions %s is a directory: pass a file with one question per "
                           "line" % path)
    except OSError as error:  # no read permission, ...
        raise Seq2SeqError("questions file %s cannot be read (%s): check its permissions"
                           % (path, error.strerror or error))
    except UnicodeDecodeError as error:
        raise Seq2SeqError("%s is not UTF-8 (byte %d): convert it with iconv" % (path, error.start))
    if not questions:
        raise Seq2SeqError("%s holds no questions (one per line expected)" % path)
    return questions


def format_reply(reply, rank=None):
    note = "  [unknown: %s]" % ", ".join(reply.unknown) if reply.unknown else ""
    prefix = "%d. " % rank if rank is not None else ""
    return "%s%s   (score %.2f, mean log-prob %.2f)%s" % (prefix, reply.text, reply.score,
                                                        reply.mean_log_prob, note)


def print_replies(decoder, questions, options, out=sys.stdout):
    width = min(max(len(q) for q in questions), 45)
    for question, replies in zip(questions, decoder.decode(questions, options)):
        if options.nbest == 1:
            out.write("%-*s -> %s\n" % (width, question, format_reply(replies[0])))
            continue
        out.write("%s\n" % question)
        for rank, reply in enumerate(replies, 1):
            out.write("    %s\n" % format_reply(reply, rank))
    out.flush()


def plot_attention_maps(decoder, questions, options, path, out=sys.stdout):
    """Write the attention heat map of each question's reply (the first
    question only unless ``path`` holds ``{}``, replaced by its number)."""
    from lasagne_seq2seq.plots import plot_attention
    numbered = "{}" in path
    for number, question in enumerate(questions if numbered else questions[:1], 1):
        target = path.replace("{}", str(number))
        plot_attention(decoder.attention_map(question, options), target)
        out.write("attention heat map of %r -> %s\n" % (question, target))


def main(argv):
    args = parse_args(argv)
    # Before the slow loading: bad flags fail at once.
    options = decode_options(args, has_lm=bool(args.lm), has_backward=bool(args.backward))
    from lasagne_seq2seq.errors import Seq2SeqError
    if args.remember and not args.interactive:
        raise Seq2SeqError("--remember carries state between typed questions: add --interactive")
    if args.attention_plot and args.interactive:
        raise Seq2SeqError("--attention-plot draws the replies to --questions (or the sample "
                           "questions): drop --interactive")
    if args.attention_plot and not os.path.isdir(os.path.dirname(args.attention_plot) or "."):
        raise Seq2SeqError("--attention-plot %s: directory %s does not exist (create it first)"
                           % (args.attention_plot, os.path.dirname(args.attention_plot)))
    # Read before the slow loading, so that a bad file fails at once.
    questions = read_questions(args.questions) if args.questions else None
    select_device(args.device, args.backend)
    from lasagne_seq2seq.decode.options import SAMPLE_QUESTIONS
    from lasagne_seq2seq.decode.decoder import load_decoder
    decoder = load_decoder(args.run_dir, args.checkpoint, max_len=options.max_len,
                           lm_dir=args.lm, backward_dir=args.backward)
    if args.interactive:
        from lasagne_seq2seq.serve.chat import run_chat
        run_chat(decoder.start_conversation(remember=args.remember), options, sys.stdin, sys.stdout)
        return 0
    questions = questions or list(SAMPLE_QUESTIONS)
    if args.attention_plot:  # first: a model without attention fails before any output
        plot_attention_maps(decoder, questions, options, args.attention_plot)
    print_replies(decoder, questions, options)
    return 0


if __name__ == "__main__":
    run_main(main)
