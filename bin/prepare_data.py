#!/usr/bin/env python
"""Prepare the named corpora into data/movie_scripts/NAME.txt (script format).

Run by setup.sh; a corpus already prepared is skipped unless --force.
"""
import os
import time

from lasagne_seq2seq.cli import ArgumentParser, run_main
from lasagne_seq2seq.data.corpora import CORPORA, corpus_path


def main(argv):
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="corpora to prepare: %s (default: all)" % ", ".join(CORPORA))
    parser.add_argument("--force", action="store_true", help="prepare again even if present")
    args = parser.parse_args(argv)
    for name in args.names or list(CORPORA):
        if name not in CORPORA:
            parser.error("unknown corpus %r: choose from %s" % (name, ", ".join(CORPORA)))
        path = corpus_path(name)
        shown = os.path.relpath(path)  # data/movie_scripts/NAME.txt from the repository
        if path.exists() and not args.force:
            print("%s: already prepared (%s)" % (name, shown))
            continue
        started = time.time()
        prepared = CORPORA[name](path)
        print("%s: %d conversations, %d utterances -> %s (%.1f s)" % (
            name, prepared.conversations, prepared.utterances, shown, time.time() - started))
    return 0


if __name__ == "__main__":
    run_main(main)
