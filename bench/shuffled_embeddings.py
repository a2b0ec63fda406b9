#!/usr/bin/env python
"""Write the control for a pretrained-embeddings comparison: shuffled vectors.

Pretrained vectors differ from the model's random start in two ways: they
carry meaning, and they are larger (chitchat's word2vec rows have norm ~1.9,
GloVe's ~4.9, the default N(0, 0.1) start ~0.7). This writes the vectors that
``--embeddings FILE`` would give a run's vocabulary, with the words dealt a
random permutation of them: the same values and scale, no meaning. Training
from it separates the two effects.

    .venv/bin/python bench/shuffled_embeddings.py VECTORS runs/R/vocab.json OUT.txt
    .venv/bin/python bin/train.py --embeddings OUT.txt --embedding-size 50 ...

Tokens without a vector are left out, so a run from OUT.txt initialises the
same rows at random as a run from VECTORS.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lasagne_seq2seq.cli import run_main  # noqa: E402
from lasagne_seq2seq.data.embeddings import embedding_matrix, load_vectors
from lasagne_seq2seq.data.vocab import Vocabulary


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("vectors", help="vectors file in any format --embeddings reads")
    parser.add_argument("vocab", help="a run's vocab.json")
    parser.add_argument("out", help="word2vec text file to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutation")
    args = parser.parse_args(argv)
    vocab = Vocabulary.load(args.vocab)
    # init="zero": the rows without a vector are exactly the all-zero ones.
    matrix, report = embedding_matrix(vocab, load_vectors(args.vectors), init="zero",
                                      source=os.path.basename(args.vectors))
    covered = np.flatnonzero(np.abs(matrix).sum(axis=1) > 0)
    shuffled = matrix[np.random.RandomState(args.seed).permutation(covered)]
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write("%d %d\n" % (len(covered), matrix.shape[1]))
        for row, index in zip(shuffled, covered):
            handle.write("%s %s\n" % (vocab.tokens[index], " ".join("%.6f" % x for x in row)))
    print("%s; %d vectors dealt to other words -> %s"
          % (report.summary(), len(covered), args.out))
    return 0


if __name__ == "__main__":
    run_main(main)
