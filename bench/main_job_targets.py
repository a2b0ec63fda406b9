#!/usr/bin/env python
"""Train the main job and check the targets its replies are held to.

Runs ``bin/train.py`` with its defaults (the main job of the README's first
command: 15 minutes of training) into ``--run-dir``, then ``bin/evaluate.py``
with the default decoding on 1,000 held-out test pairs, and checks:

* validation perplexity per word (the best of the run) <= 45;
* no reply holds ``<unk>``;
* the most frequent reply is at most 5% of the replies;
* distinct-2 >= 0.10;
* the mean reply length within 30% of the references'.

Prints each figure beside its target and the CPU it ran on, writes them to
``RUN_DIR/targets.json``, and exits with 1 when a target is missed. Run it on
a quiet machine: the budget is time, so other jobs cost the model steps.

    .venv/bin/python bench/main_job_targets.py
    .venv/bin/python bench/main_job_targets.py --reuse runs/default   # evaluate only
"""
import argparse
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: (key, label, target, whether the figure passes it).
TARGETS = [
    ("valid_ppl", "validation perplexity per word", "<= 45",
     lambda figures: figures["valid_ppl"] <= 45.0),
    ("unk_reply_share", "replies with <unk>", "0",
     lambda figures: figures["unk_reply_share"] == 0.0),
    ("top_reply_share", "most frequent reply's share", "<= 5%",
     lambda figures: figures["top_reply_share"] <= 0.05),
    ("distinct_2", "distinct-2", ">= 0.10", lambda figures: figures["distinct_2"] >= 0.10),
    ("length_ratio", "mean reply length / references'", "0.7 to 1.3",
     lambda figures: 0.7 <= figures["length_ratio"] <= 1.3),
]


def cpu_name():
    """The CPU's model name (lscpu's), for naming the machine beside the figures."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return "%s, %d cores" % (line.split(":", 1)[1].strip(), os.cpu_count())
    except OSError:
        pass
    return "%s, %d cores" % (platform.processor() or platform.machine(), os.cpu_count())


def figures_of(run_dir, evaluation):
    """The checked figures from a run's history and its evaluation."""
    with open(os.path.join(run_dir, "history.json")) as handle:
        history = json.load(handle)
    valid = [record["valid_ppl"] for record in history if record["valid_ppl"] is not None]
    last = history[-1]
    return {"valid_ppl": min(valid) if valid else float("inf"),
            "unk_reply_share": evaluation["unk_reply_share"],
            "top_reply_share": evaluation["top_reply_share"],
            "top_reply": evaluation["top_reply"],
            "distinct_2": evaluation["distinct_2"],
            "length_ratio": evaluation["mean_length"] / evaluation["reference_mean_length"],
            "mean_length": evaluation["mean_length"],
            "reference_mean_length": evaluation["reference_mean_length"],
            "steps": last["step"], "tokens_per_second": last["tokens_per_second"],
            "train_minutes": last["train_seconds"] / 60, "options": evaluation["options"]}


def report(figures):
    """The figures beside their targets, one line each; (text, all passed)."""
    lines, passed = [], True
    for key, label, target, check in TARGETS:
        ok = check(figures)
        passed &= ok
        lines.append("%-34s %10.4g   target %-10s %s" % (label, figures[key], target,
                                                          "pass" if ok else "MISSED"))
    return "\n".join(lines), passed


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "targets"),
                        help="where the main job is trained (default runs/targets)")
    parser.add_argument("--reuse", metavar="RUN_DIR",
                        help="evaluate this trained run instead of training one")
    parser.add_argument("extra", nargs="*", help="more bin/train.py flags (after --)")
    args = parser.parse_args(argv)
    python = sys.executable
    run_dir = args.reuse or args.run_dir
    if not args.reuse:
        subprocess.run([python, os.path.join(ROOT, "bin", "train.py"), "--run-dir", run_dir,
                        "--overwrite", "--no-progress"] + args.extra, check=True, cwd=ROOT)
    evaluation_path = os.path.join(run_dir, "targets-evaluation.json")
    subprocess.run([python, os.path.join(ROOT, "bin", "evaluate.py"), run_dir,
                    "--json", evaluation_path], check=True, cwd=ROOT)
    with open(evaluation_path) as handle:
        figures = figures_of(run_dir, json.load(handle))
    text, passed = report(figures)
    figures.update(cpu=cpu_name(), passed=passed)
    from lasagne_seq2seq.files import write_json
    write_json(figures, os.path.join(run_dir, "targets.json"), indent=2)
    print("main job: %d steps in %.1f min at %.0f target tokens/s on %s"
          % (figures["steps"], figures["train_minutes"], figures["tokens_per_second"],
             figures["cpu"]))
    print(text)
    print("targets: %s (%s)" % ("all met" if passed else "missed", run_dir))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
