#!/usr/bin/env python
"""Compare the model family on the default corpus with one budget each.

Trains every variant with ``bin/train.py`` (same data and sizes, and the same
``--steps`` or ``--minutes``), then reports the best validation perplexity,
distinct-2 of greedy replies to held-out questions and training tokens/s as a
Markdown table (the README's comparison table). v2 is warm-started from the
v1 run. An equal number of steps is the fairer budget on a shared machine
(a time budget also counts compilation, and other jobs slow some runs more
than others); tokens/s counts training steps only.

    .venv/bin/python bench/compare_models.py --minutes 3
    flock /tmp/cpu.lock .venv/bin/python bench/compare_models.py --steps 300 -- \
        --max-src-len 10 --max-tgt-len 10 --buckets 1 --validate-every 300
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: (name, bin/train.py flags); a flag value "{v1}" is the v1 run's directory.
VARIANTS = [
    ("v1", ["--model", "v1"]),
    ("v2 (warm start)", ["--model", "v2", "--init-encoder", "{v1}"]),
    ("attention", ["--model", "attention"]),
    ("v1 gru", ["--model", "v1", "--cell", "gru"]),
    ("v1 jzs1", ["--model", "v1", "--cell", "jzs1"]),
    ("v1 jzs2", ["--model", "v1", "--cell", "jzs2"]),
    ("v1 jzs3", ["--model", "v1", "--cell", "jzs3"]),
    # Validation perplexity is always the full softmax's.
    ("v1 sampled", ["--model", "v1", "--sampled-softmax", "1024"]),
]


def run_dir_of(out_dir, name):
    return os.path.join(out_dir, name.split()[0] + "-" + name.split()[-1].strip("()"))


def train(name, flags, out_dir, budget, extra):
    """Train one variant with bin/train.py; returns its run directory."""
    run_dir = run_dir_of(out_dir, name)
    flags = [f.format(v1=run_dir_of(out_dir, "v1")) for f in flags]
    command = [sys.executable, os.path.join(ROOT, "bin", "train.py"), "--run-dir", run_dir,
               "--overwrite", "--no-progress", "--sample-every", "0"] + budget + flags + extra
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)
    return run_dir


def summarize(name, run_dir, max_pairs):
    """Best validation perplexity, distinct-2 and tokens/s of one run."""
    from lasagne_seq2seq.evaluation.evaluate import evaluate_run
    with open(os.path.join(run_dir, "history.json")) as handle:
        history = json.load(handle)
    valid = [r["valid_ppl"] for r in history if r["valid_ppl"] is not None]
    results = evaluate_run(run_dir, max_pairs=max_pairs)
    last = history[-1]
    return {"model": name, "valid_ppl": min(valid) if valid else None,
            "distinct_2": results["distinct_2"], "tokens_per_second": last["tokens_per_second"],
            "steps": last["step"]}


def markdown(rows, budget):
    lines = ["| model (%s each) | valid ppl | distinct-2 | train tokens/s | steps |" % budget,
             "|---|---|---|---|---|"]
    for row in rows:
        lines.append("| %s | %.1f | %.3f | %.0f | %d |" % (
            row["model"], row["valid_ppl"], row["distinct_2"], row["tokens_per_second"],
            row["steps"]))
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=3.0,
                        help="training time per model, compilation included (default 3)")
    budget.add_argument("--steps", type=int, help="training steps per model, instead of time")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "compare"),
                        help="where the runs go")
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument("--eval-pairs", type=int, default=500, help="held-out pairs to decode")
    parser.add_argument("extra", nargs="*", help="more bin/train.py flags (after --)")
    args = parser.parse_args(argv)
    if args.steps:
        budget, label = ["--max-steps", str(args.steps), "--max-minutes", "0"], \
            "%d steps" % args.steps
    else:
        budget, label = ["--max-minutes", str(args.minutes)], "%g min" % args.minutes
    rows = []
    for name, flags in VARIANTS:
        if args.only and name not in args.only:
            continue
        run_dir = train(name, flags, args.out, budget, args.extra)
        rows.append(summarize(name, run_dir, args.eval_pairs))
        print(markdown(rows, label), flush=True)
    with open(os.path.join(args.out, "compare.json"), "w") as handle:
        json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
