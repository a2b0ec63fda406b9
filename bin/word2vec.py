#!/usr/bin/env python
"""Train word2vec on a dialogue corpus, or explore word vectors.

With no arguments: skip-gram vectors of 128 dimensions trained on the
prepared chitchat corpus, saved as data/embeddings/chitchat-w2v-128d.npz (use
them with `bin/train.py --embeddings PATH`). --similar WORD prints a word's
ten nearest neighbours; with --vectors PATH (any format) nothing is trained,
and --out converts the vectors to .npz.

Pickled vectors (gensim's KeyedVectors.save, *.kv) are refused unless
--trust-pickle is given: loading a pickle runs any code it holds, so pass it
only for files you made yourself. The .npz files written here hold no pickle.
"""
import argparse
import time
from pathlib import Path

from lasagne_seq2seq.cli import ArgumentParser, run_main
from lasagne_seq2seq.errors import Seq2SeqError


def parse_args(argv):
    parser = ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="chitchat",
                        help="corpus name (chitchat, shakespeare) or path (default chitchat)")
    parser.add_argument("--format", default="auto", help="corpus format (default auto)")
    parser.add_argument("--encoding", default="utf-8",
                        help="corpus text encoding (default utf-8; e.g. latin-1)")
    parser.add_argument("--tokenizer", default="default",
                        help="default or classic: use the one the model is trained with")
    parser.add_argument("--dim", type=int, default=128, help="vector size (default 128)")
    parser.add_argument("--window", type=int, default=5, help="context words on each side")
    parser.add_argument("--min-count", type=int, default=2, help="ignore rarer words")
    parser.add_argument("--epochs", type=int, default=5, help="passes over the corpus")
    parser.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    parser.add_argument("--workers", type=int, default=2,
                        help="training threads; 1 makes the vectors reproducible")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", help="where to save the vectors as .npz (default "
                                      "data/embeddings/<corpus>-w2v-<dim>d.npz; with "
                                      "--vectors: no default, convert only if given)")
    parser.add_argument("--similar", nargs="+", default=[], metavar="WORD",
                        help="print the 10 nearest neighbours of each WORD")
    parser.add_argument("--vectors", metavar="PATH",
                        help="explore these vectors (any format) instead of training")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="let --vectors load a pickle (gensim KeyedVectors .kv); loading "
                             "one runs any code it holds: only for files you made")
    return parser.parse_args(argv)


def train(args):
    """Train on ``args.corpus``, save, and return the vectors."""
    from lasagne_seq2seq.data.corpora import load_conversations
    from lasagne_seq2seq.data.embeddings import EMBEDDINGS_DIR, save_vectors, train_word2vec
    from lasagne_seq2seq.data.text import tokenize
    started = time.time()
    conversations = load_conversations(args.corpus, fmt=args.format, encoding=args.encoding)
    token_lists = [tokenize(utterance, args.tokenizer)
                   for conversation in conversations for utterance in conversation]
    print("%s: %d utterances, %d tokens (read in %.1f s)" % (
        args.corpus, len(token_lists), sum(map(len, token_lists)), time.time() - started))
    started = time.time()
    vectors = train_word2vec(token_lists, dim=args.dim, window=args.window,
                             min_count=args.min_count, epochs=args.epochs, sg=not args.cbow,
                             workers=args.workers, seed=args.seed, progress=True)
    out = Path(args.out or EMBEDDINGS_DIR / ("%s-w2v-%dd.npz" % (Path(args.corpus).stem,
                                                                args.dim)))
    save_vectors(vectors, out)
    print("word2vec: %d words x %d dimensions in %.1f s -> %s" % (
        len(vectors), vectors.vector_size, time.time() - started, out))
    return vectors


def print_neighbours(vectors, words):
    """Print each word's neighbours; raise for the words without a vector at the end."""
    from lasagne_seq2seq.data.embeddings import nearest_neighbours
    unknown = []
    for word in words:
        try:
            neighbours = nearest_neighbours(vectors, word)
        except Seq2SeqError:
            unknown.append(word)
            continue
        print("%s: %s" % (word, ", ".join("%s %.3f" % pair for pair in neighbours)))
    if unknown:
        raise Seq2SeqError("no vector for %s among the %d words: try a more frequent word "
                           "(or a lower --min-count)" % (", ".join(map(repr, unknown)),
                                                         len(vectors)))


def main(argv):
    args = parse_args(argv)
    if args.vectors:
        from lasagne_seq2seq.data.embeddings import load_vectors, save_vectors
        vectors = load_vectors(args.vectors, trust_pickle=args.trust_pickle)
        print("%s: %d words x %d dimensions" % (args.vectors, len(vectors), vectors.vector_size))
        if args.out:
            save_vectors(vectors, args.out)
            print("saved as %s" % args.out)
    else:
        vectors = train(args)
    print_neighbours(vectors, args.similar)
    return 0


if __name__ == "__main__":
    run_main(main)
