#!/usr/bin/env python
"""Train a seq2seq dialogue model.

With no arguments: v1 on the prepared chitchat corpus, CPU-sized, at most 15
minutes of training, saved in runs/default (then run bin/test.py).
"""
import argparse

from lasagne_seq2seq.cli import (ArgumentParser, add_device_flags, add_flags, apply_flags,
                                 run_main, select_device)
from lasagne_seq2seq.config import PRESETS, SECTIONS, load_config, preset
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.train import mpi


def parse_args(argv):
    parser = ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--preset", choices=sorted(PRESETS),
                       help="starting configuration (default: default); flags override it")
    start.add_argument("--config", metavar="FILE",
                       help="start from a saved config.json (e.g. another run's); flags "
                            "override it")
    start.add_argument("--resume", metavar="RUN_DIR",
                       help="continue this run exactly where it stopped (only the schedule's "
                            "flags may change)")
    parser.add_argument("--run-dir", default="runs/default", help="where the run is saved")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again even if the run directory holds a model")
    add_device_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="train as N data-parallel processes on this machine (MPI; "
                             "--batch-size is per process, docs/distributed.md); across "
                             "machines, start bin/train.py with mpiexec or srun instead")
    # --help names the default preset's values: a run without --preset starts there.
    default = preset("default")
    for section, settings in SECTIONS.items():
        add_flags(parser, settings, section, shown=getattr(default, section))
    return parser.parse_args(argv)


def build_config(args):
    """The run's config: a preset, a config file or the resumed run's, then the flags."""
    from lasagne_seq2seq.rundir import RunDir
    if args.resume:
        config = RunDir(args.resume).load_config()
    elif args.config:
        config = load_config(args.config)
    else:
        config = preset(args.preset or "default")
    return apply_flags(config, args, resume=bool(args.resume)).validate()


def without_workers(argv):
    """``argv`` less ``--workers N``: what each rank is started with."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            kept.append(arg)
    return kept


def main(argv):
    args = parse_args(argv)
    if args.workers is not None and args.workers < 1:
        raise Seq2SeqError("--workers must be at least 1 (got %d)" % args.workers)
    launched = mpi.world_size_launched()
    if args.workers is not None and launched > 1 and args.workers != launched:
        raise Seq2SeqError("--workers %d, but the launcher started %d ranks: drop --workers "
                           "under mpiexec or srun" % (args.workers, launched))
    if args.workers is not None and args.workers > 1 and launched == 1:
        build_config(args)  # bad flags fail once, here, not once per rank
        return mpi.launch(args.workers, __file__, without_workers(argv))
    mpi.prepare_rank()
    select_device(args.device, args.backend)
    world = mpi.world()
    config = build_config(args)
    from lasagne_seq2seq.train.run import train_run
    mpi.guarded(world, lambda: train_run(
        config, args.resume or args.run_dir, resume=bool(args.resume),
        overwrite=args.overwrite, progress_bar=not args.no_progress, world=world))
    return 0


if __name__ == "__main__":
    run_main(main)
