#!/usr/bin/env python
"""Compare model set-ups, and decodings of one model, with one budget each.

``--study family`` (the default) trains the seq2seq family with
``bin/train.py``: v1, v2 warm-started from the v1 run, attention, the GRU and
JZS cells, sampled softmax (same data and sizes). ``--study defaults`` trains
the candidates for the main job's defaults (docs/results.md, "Choosing the
defaults"): v1 as the original trained it (untied output layer) and as the
reproduction does (tied), attention, v2 warm-started from the tied v1,
subword pieces, dropout, a decaying learning rate, and the defaults of
``bin/train.py`` as they are now; ``--study batch`` those defaults with
64, 32, 16 and 8 pairs a batch; ``--study learning-rate`` with a peak
learning rate of 0.0014, 0.002, 0.003 and 0.004.

Each run is then evaluated on 1,000 held-out test pairs (greedy replies, so
that the models compare on the same decoding): best validation perplexity
per word, distinct-1/2, the most frequent reply's share, the share of
replies holding ``<unk>``, mean reply length against the references', and
replies to ten of the original's sample questions. ``--decodings RUN_DIR``
instead compares the decoding strategies on one trained run (``--lm`` adds
MMI-antiLM with a language model trained on the same data).

An equal number of steps (``--steps``) is the fairer budget on a shared
machine; the main job's budget is ``--minutes 15`` on a quiet one (a time
budget also counts compilation). Results go to ``OUT/compare.json`` and
``OUT/compare.md``.

    .venv/bin/python bench/compare_models.py --minutes 3
    .venv/bin/python bench/compare_models.py --study defaults --minutes 15 --out runs/defaults
    .venv/bin/python bench/compare_models.py --decodings runs/defaults/default \\
        --lm runs/defaults/lm --out runs/defaults/decodings
    flock /tmp/cpu.lock .venv/bin/python bench/compare_models.py --steps 300 -- \\
        --max-src-len 10 --max-tgt-len 10 --buckets 1 --validate-every 300
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: Training studies: (key, name, bin/train.py flags); "{v1}" is the v1 run's
#: directory (v2 is warm-started from it).
STUDIES = {
    "family": [
        ("v1", "v1 (LSTM)", ["--model", "v1"]),
        ("v2", "v2 (warm start from the v1 above)", ["--model", "v2", "--init-encoder", "{v1}"]),
        ("attention", "attention (bidirectional LSTM encoder, additive)",
         ["--model", "attention"]),
        ("gru", "v1 GRU", ["--model", "v1", "--cell", "gru"]),
        ("jzs1", "v1 JZS1", ["--model", "v1", "--cell", "jzs1"]),
        ("jzs2", "v1 JZS2", ["--model", "v1", "--cell", "jzs2"]),
        ("jzs3", "v1 JZS3", ["--model", "v1", "--cell", "jzs3"]),
        # Validation perplexity is always the full softmax's.
        ("sampled", "v1 sampled softmax (1,024)", ["--model", "v1", "--sampled-softmax", "1024"]),
    ],
    # Each row is --preset original plus its own flags, so the rows stay what
    # they are when bin/train.py's defaults change; "default" is those defaults.
    "defaults": [
        ("untied", "v1, untied output layer (--preset original)", ["--preset", "original"]),
        ("v1", "v1, tied embeddings", ["--preset", "original", "--tie-embeddings"]),
        ("attention", "attention, tied", ["--preset", "original", "--tie-embeddings",
                                          "--model", "attention"]),
        ("v2warm", "v2 warm-started from the tied v1, tied",
         ["--preset", "original", "--tie-embeddings", "--model", "v2", "--init-encoder", "{v1}"]),
        ("unigram", "v1, tied, unigram pieces", ["--preset", "original", "--tie-embeddings",
                                                 "--vocab", "unigram"]),
        ("dropout", "v1, tied, dropout 0.2", ["--preset", "original", "--tie-embeddings",
                                              "--dropout", "0.2"]),
        ("schedule", "v1, tied, learning rate 0.002 falling linearly to 0",
         ["--preset", "original", "--tie-embeddings", "--lr-schedule", "linear",
          "--learning-rate", "0.002"]),
        ("default", "bin/train.py's defaults", []),
    ],
    # The defaults' second round: pairs per batch in the same 15 minutes,
    # validating every 32,000 pairs (a validation takes the same time
    # whatever the batch), at the learning rate of that round.
    "batch": [
        ("batch%d" % size, "bin/train.py's defaults, batch %d, learning rate 0.002" % size,
         ["--batch-size", str(size), "--validate-every", str(32000 // size),
          "--learning-rate", "0.002"])
        for size in (64, 32, 16, 8)],
    # The third round, at batch 16: the peak learning rate; one step costs the
    # same at any rate, so compare with --steps (and --seed for a second draw).
    "learning-rate": [
        ("lr%g" % rate, "bin/train.py's defaults, learning rate %g" % rate,
         ["--learning-rate", str(rate)])
        for rate in (0.0014, 0.002, 0.003, 0.004)],
}

#: Decoding study: (key, name, DecodeOptions settings); rows with an
#: ``antilm_lambda`` need ``--lm``.
DECODINGS = [
    ("greedy", "greedy", {"strategy": "greedy"}),
    ("beam", "beam 10, alpha 1", {"strategy": "beam", "beam": 10, "alpha": 1.0}),
    ("beam-block", "beam 10, alpha 1, block 3-grams",
     {"strategy": "beam", "beam": 10, "alpha": 1.0, "block_ngram": 3}),
    ("top-p", "sampling, top-p 0.9", {"strategy": "sample", "top_p": 0.9, "seed": 0}),
    ("top-p-cool", "sampling, top-p 0.9, temperature 0.7",
     {"strategy": "sample", "top_p": 0.9, "temperature": 0.7, "seed": 0}),
    # lambda 0.5 made a 5-minute LM's rare words win (docs/decoding.md).
    ("antilm", "beam 10, alpha 1, block 3-grams, MMI-antiLM 0.2 (first 5 tokens)",
     {"strategy": "beam", "beam": 10, "alpha": 1.0, "block_ngram": 3, "antilm_lambda": 0.2,
      "antilm_gamma": 5}),
]

#: How many of the original's sample questions each row answers.
SAMPLE_COUNT = 10


def train(key, flags, out_dir, budget, extra, reuse):
    """Train one row with bin/train.py (or keep a finished run); its run directory."""
    run_dir = os.path.join(out_dir, key)
    if reuse and os.path.exists(os.path.join(run_dir, "best.npz")):
        print("reusing %s" % run_dir, flush=True)
        return run_dir
    flags = [f.format(v1=os.path.join(out_dir, "v1")) for f in flags]
    command = [sys.executable, os.path.join(ROOT, "bin", "train.py"), "--run-dir", run_dir,
               "--overwrite", "--no-progress", "--sample-every", "0"] + flags + budget + extra
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)
    return run_dir


def evaluate(run_dir, options, max_pairs, lm_dir=None):
    """The reply metrics of one run and decoding, and its sample replies."""
    from lasagne_seq2seq.decode.decoder import load_decoder
    from lasagne_seq2seq.decode.options import SAMPLE_QUESTIONS
    from lasagne_seq2seq.evaluation.evaluate import evaluate_run
    results = evaluate_run(run_dir, options=options, max_pairs=max_pairs, lm_dir=lm_dir)
    decoder = load_decoder(run_dir, lm_dir=lm_dir)
    questions = list(SAMPLE_QUESTIONS[:SAMPLE_COUNT])
    results["samples"] = [[q, r.text] for q, r in zip(questions, decoder.reply(questions,
                                                                                options))]
    return results


def summarize(key, name, run_dir, max_pairs):
    """A training row: its history's figures and its greedy replies' metrics."""
    from lasagne_seq2seq.decode.options import DecodeOptions
    with open(os.path.join(run_dir, "history.json")) as handle:
        history = json.load(handle)
    valid = [r["valid_ppl"] for r in history if r["valid_ppl"] is not None]
    row = evaluate(run_dir, DecodeOptions(strategy="greedy"), max_pairs)
    last = history[-1]
    row.update(key=key, name=name, valid_ppl=min(valid) if valid else None,
               tokens_per_second=last["tokens_per_second"], steps=last["step"],
               train_minutes=last["train_seconds"] / 60)
    return row


def markdown(rows, label):
    """The rows as a Markdown table, then each row's sample replies."""
    training = "steps" in rows[0]
    columns = (["steps", "target tokens/s", "valid ppl per word"] if training else []) + [
        "BLEU", "distinct-1", "distinct-2", "top reply share", "replies with <unk>",
        "mean length (references)"]
    lines = ["| %s (%s) | %s |" % ("set-up" if training else "decoding", label,
                                   " | ".join(columns)),
             "|---|" + "---|" * len(columns)]
    for row in rows:
        cells = ["%d" % row["steps"], "{:,.0f}".format(row["tokens_per_second"]),
                 "%.1f" % row["valid_ppl"]] if training else []
        cells += ["%.2f" % row["bleu"], "%.3f" % row["distinct_1"], "%.3f" % row["distinct_2"],
                  "%.1f%%" % (100 * row["top_reply_share"]),
                  "%.1f%%" % (100 * row["unk_reply_share"]),
                  "%.2f (%.2f)" % (row["mean_length"], row["reference_mean_length"])]
        lines.append("| %s | %s |" % (row["name"], " | ".join(cells)))
    for row in rows:
        lines += ["", "%s:" % row["name"], "", "```"]
        width = max(len(q) for q, _ in row["samples"])
        lines += ["%-*s -> %s" % (width, q, r) for q, r in row["samples"]]
        lines.append("```")
    return "\n".join(lines)


def write(rows, out_dir, label):
    """compare.json and compare.md in ``out_dir``; prints the table."""
    from lasagne_seq2seq.files import atomic_open, write_json
    os.makedirs(out_dir, exist_ok=True)
    text = markdown(rows, label)
    write_json(rows, os.path.join(out_dir, "compare.json"), indent=2)
    with atomic_open(os.path.join(out_dir, "compare.md")) as handle:
        handle.write(text + "\n")
    print(text, flush=True)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=3.0,
                        help="training time per model, compilation included (default 3)")
    budget.add_argument("--steps", type=int, help="training steps per model, instead of time")
    parser.add_argument("--study", choices=sorted(STUDIES), default="family",
                        help="which set-ups to train (default: family)")
    parser.add_argument("--decodings", metavar="RUN_DIR",
                        help="compare the decoding strategies on this run instead of training")
    parser.add_argument("--lm", metavar="RUN_DIR",
                        help="--decodings: the language model of the MMI-antiLM row")
    parser.add_argument("--out", help="where the runs and results go (default: runs/STUDY)")
    parser.add_argument("--only", nargs="*", metavar="KEY", help="rows to run (default: all)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a row's run directory if it holds a trained model")
    parser.add_argument("--eval-pairs", type=int, default=1000, help="held-out pairs to decode")
    parser.add_argument("extra", nargs="*", help="more bin/train.py flags (after --)")
    args = parser.parse_args(argv)
    rows = []
    if args.decodings:
        from lasagne_seq2seq.decode.options import DecodeOptions
        out_dir = args.out or os.path.join(args.decodings, "decodings")
        for key, name, settings in DECODINGS:
            if (args.only and key not in args.only) or ("antilm_lambda" in settings
                                                        and not args.lm):
                continue
            row = evaluate(args.decodings, DecodeOptions(**settings), args.eval_pairs,
                           lm_dir=args.lm if "antilm_lambda" in settings else None)
            row.update(key=key, name=name)
            rows.append(row)
            write(rows, out_dir, os.path.basename(os.path.normpath(args.decodings)))
        return 0
    if args.steps:
        budget, label = ["--max-steps", str(args.steps), "--max-minutes", "0"], \
            "%d steps" % args.steps
    else:
        budget, label = ["--max-minutes", str(args.minutes)], "%g min each" % args.minutes
    out_dir = args.out or os.path.join(ROOT, "runs", args.study)
    for key, name, flags in STUDIES[args.study]:
        if args.only and key not in args.only:
            continue
        run_dir = train(key, flags, out_dir, budget, args.extra, args.reuse)
        rows.append(summarize(key, name, run_dir, args.eval_pairs))
        write(rows, out_dir, label)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
