#!/usr/bin/env python
"""Decoding speed and reply diversity on a trained model.

Speed: the latency of one question decoded alone (median over the sample
questions, after a warm-up) for greedy decoding and beam 10, and the
throughput of batched decoding (all sample questions, repeated, in one call).
Targets on the 2-core CPU at the default size: greedy under 50 ms, beam 10
under 500 ms per question.

Diversity: distinct-1 and distinct-2 (distinct n-grams / all n-grams over all
replies) and the mean reply length over the sample questions, for greedy,
beam 10, sampling and MMI-antiLM (and MMI-bidi with --backward).

    .venv/bin/python bench/bench_decode.py [RUN_DIR] [--lm runs/default-lm]
        [--backward runs/default-backward] [--repeat 4]
"""
import argparse
import time

import numpy as np

from lasagne_seq2seq.decode.options import SAMPLE_QUESTIONS, DecodeOptions
from lasagne_seq2seq.decode.decoder import load_decoder
from lasagne_seq2seq.evaluation.metrics import distinct_n


def median_latency_ms(decoder, questions, options):
    """Median milliseconds to decode one question alone."""
    decoder.decode(questions[:1], options)  # warm-up
    times = []
    for question in questions:
        started = time.perf_counter()
        decoder.decode([question], options)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def throughput(decoder, questions, options):
    """Replies per second when ``questions`` are decoded in one batch."""
    started = time.perf_counter()
    decoder.decode(questions, options)
    return len(questions) / (time.perf_counter() - started)


def diversity(decoder, questions, options):
    replies = decoder.reply(questions, options)
    tokens = [r.tokens for r in replies]
    return (distinct_n(tokens, 1), distinct_n(tokens, 2), float(np.mean([len(t) for t in tokens])),
            replies)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", default="runs/default")
    parser.add_argument("--lm", help="language model run (bin/train.py --model lm) for MMI-antiLM")
    parser.add_argument("--backward", help="backward run (bin/train.py --reverse-pairs) for MMI-bidi")
    parser.add_argument("--alpha", type=float, default=1.0,
                        help="length normalisation of the tuned beam rows")
    parser.add_argument("--block-ngram", type=int, default=2,
                        help="n-gram blocking of the tuned beam rows")
    parser.add_argument("--antilm-lambda", type=float, default=0.2)
    parser.add_argument("--antilm-gamma", type=int, default=5)
    parser.add_argument("--mmi-bidi-lambda", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=4,
                        help="batch size for throughput = repeat x 22 sample questions")
    parser.add_argument("--show", action="store_true", help="print every reply")
    args = parser.parse_args()
    decoder = load_decoder(args.run_dir, lm_dir=args.lm, backward_dir=args.backward)
    questions = list(SAMPLE_QUESTIONS)
    greedy, beam = DecodeOptions(), DecodeOptions(strategy="beam", beam=10)

    print("latency, one question (median of %d):" % len(questions))
    for name, options, target in (("greedy", greedy, 50), ("beam 10", beam, 500)):
        ms = median_latency_ms(decoder, questions, options)
        print("  %-8s %7.1f ms  (target %d ms: %s)" % (name, ms, target,
                                                      "met" if ms < target else "MISSED"))
    print("throughput, %d questions in one batch:" % (args.repeat * len(questions)))
    for name, options in (("greedy", greedy), ("beam 10", beam)):
        print("  %-8s %7.1f replies/s" % (name, throughput(decoder, questions * args.repeat,
                                                          options)))

    tuned = dict(strategy="beam", beam=10, alpha=args.alpha, block_ngram=args.block_ngram)
    tuned_name = "beam 10, alpha %g, block %d-grams" % (args.alpha, args.block_ngram)
    strategies = [("greedy", greedy), ("beam 10", beam), (tuned_name, DecodeOptions(**tuned)),
                  ("sample T=1", DecodeOptions(strategy="sample", seed=0)),
                  ("sample T=0.7 top-p 0.9", DecodeOptions(strategy="sample", temperature=0.7,
                                                         top_p=0.9, seed=0))]
    if args.lm:
        strategies.append(("%s + MMI-antiLM (lambda %g, gamma %d)"
                           % (tuned_name, args.antilm_lambda, args.antilm_gamma),
                           DecodeOptions(antilm_lambda=args.antilm_lambda,
                                         antilm_gamma=args.antilm_gamma, **tuned)))
    if args.backward:
        strategies.append(("%s + MMI-bidi (lambda %g)" % (tuned_name, args.mmi_bidi_lambda),
                           DecodeOptions(mmi_bidi_lambda=args.mmi_bidi_lambda, **tuned)))
    print("diversity over the %d sample questions:" % len(questions))
    print("  | strategy | distinct-1 | distinct-2 | mean length |")
    print("  | --- | --- | --- | --- |")
    for name, options in strategies:
        d1, d2, length, replies = diversity(decoder, questions, options)
        print("  | %s | %.3f | %.3f | %.1f |" % (name, d1, d2, length))
        if args.show:
            for question, reply in zip(questions, replies):
                print("      %-42s -> %s" % (question, reply.text))


if __name__ == "__main__":
    main()
