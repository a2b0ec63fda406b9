#!/usr/bin/env python
"""Train a seq2seq dialogue model.

With no arguments: v1 on the prepared chitchat corpus, CPU-sized, at most 15
minutes of training, saved in runs/default (then run bin/test.py).
"""
import argparse

from lasagne_seq2seq.cli import run_main, select_device
from lasagne_seq2seq.config import CELL_NAMES, MODELS, OPTIMIZERS, PRESETS, preset

# (flag, section, field, type, help); type bool means a store_true switch.
FLAGS = [
    ("--corpus", "data", "corpus", str, "corpus name (chitchat, shakespeare) or path"),
    ("--format", "data", "format", str, "corpus format: auto, script, plain, cornell, tsv"),
    ("--encoding", "data", "encoding", str, "corpus text encoding (e.g. latin-1)"),
    ("--tokenizer", "data", "tokenizer", str, "tokenizer: default, or classic (the original's)"),
    ("--pairing", "data", "pairing", str, "consecutive (overlapping) or alternate pairs"),
    ("--vocab-size", "data", "vocab_size", int, "vocabulary size, 4 special tokens included"),
    ("--min-count", "data", "min_count", int, "drop words seen fewer times"),
    ("--max-src-len", "data", "max_src_len", int, "truncate questions to this many tokens"),
    ("--max-tgt-len", "data", "max_tgt_len", int, "truncate replies to this many tokens"),
    ("--max-pairs", "data", "max_pairs", int, "use only the first N training pairs"),
    ("--reverse", "data", "reverse_pairs", bool,
     "swap questions and replies: a backward model p(S|T) for MMI-bidi reranking"),
    ("--model", "model", "model", str, "architecture: %s" % ", ".join(MODELS)),
    ("--cell", "model", "cell", str, "recurrent cell: %s" % ", ".join(CELL_NAMES)),
    ("--embedding-size", "model", "embedding_size", int, "word embedding size"),
    ("--hidden-size", "model", "hidden_size", int, "recurrent units per layer"),
    ("--encoder-depth", "model", "encoder_depth", int, "encoder layers"),
    ("--decoder-depth", "model", "decoder_depth", int, "decoder layers"),
    ("--dropout", "model", "dropout", float, "dropout between layers"),
    ("--grad-clipping", "model", "grad_clipping", float, "per-step recurrent gradient clip (0: off)"),
    ("--attention-score", "model", "attention_score", str,
     "attention score: additive (Bahdanau) or general (Luong)"),
    ("--attention-size", "model", "attention_size", int, "additive attention units (0: the hidden size)"),
    ("--word-dropout", "model", "word_dropout", float,
     "replace decoder input words by <unk> with this probability"),
    ("--norm-stabilizer", "model", "norm_stabilizer", float,
     "norm-stabiliser factor beta (Krueger & Memisevic 2015; 0: off)"),
    ("--norm-stabilize", "model", "norm_stabilize", str,
     "what the norm-stabiliser acts on: hidden, logits or both"),
    ("--devices", "model", "devices", str,
     "GPU placement GROUP=CONTEXT,... over embedding, encoder, decoder, output, e.g. "
     "encoder=dev0,decoder=dev1,output=dev1 with THEANO_FLAGS contexts=dev0->cuda0;dev1->cuda1 "
     "(ignored, with a notice, on the CPU)"),
    ("--remember-state", "model", "remember_state", bool,
     "multi-turn training: conversation-ordered batches, the encoder starting from its state "
     "after the previous exchange of the same conversation (decode with --interactive "
     "--remember)"),
    ("--optimizer", "train", "optimizer", str, "optimiser: %s" % ", ".join(OPTIMIZERS)),
    ("--lr", "train", "learning_rate", float, "learning rate (adam 0.001, adadelta 1.0)"),
    ("--batch-size", "train", "batch_size", int, "pairs per batch"),
    ("--max-grad-norm", "train", "max_grad_norm", float, "clip the total gradient norm (0: off)"),
    ("--sampled-softmax", "train", "sampled_softmax", int,
     "train with sampled softmax over K candidate words (Jean et al. 2015; 0: full softmax); "
     "validation and decoding use the full softmax"),
    ("--epochs", "train", "epochs", int, "passes over the training pairs"),
    ("--max-minutes", "train", "max_minutes", float, "stop after this much time (0: no limit)"),
    ("--max-steps", "train", "max_steps", int, "stop after this many updates (0: no limit)"),
    ("--validate-every", "train", "validate_every", int, "validate and checkpoint every N steps"),
    ("--sample-every", "train", "sample_every", int, "print sample replies every N steps (0: never)"),
    ("--patience", "train", "patience", int, "early stop after N validations without progress"),
    ("--seed", "train", "seed", int, "random seed (data split, initialisation, shuffling)"),
    ("--buckets", "train", "buckets", int, "number of length buckets"),
    ("--embeddings", "train", "embeddings", str,
     "initialise embeddings from vectors: a file, or 'word2vec' to train them on the corpus"),
    ("--embeddings-init", "train", "embeddings_init", str,
     "how vocabulary rows without a vector start: random (normal noise with the vectors' "
     "spread, default), zero, or mean (the mean vector); <pad> is always zero"),
    ("--freeze-embeddings", "train", "freeze_embeddings", bool, "keep the embeddings fixed"),
    ("--init-encoder", "train", "init_encoder", str, "warm start: copy the encoder of this run dir"),
    ("--freeze-encoder-epochs", "train", "freeze_encoder_epochs", int,
     "keep the warm-started encoder fixed for this many epochs"),
]
# Flags that may change when resuming: the schedule, not the model or data.
RESUMABLE = {"epochs", "max_minutes", "max_steps", "validate_every", "sample_every", "patience"}


def parse_depth(text):
    """``"2"`` -> (2, 2); ``"2,1"`` -> (2, 1): seed 004's int or (encoder, decoder)."""
    try:
        depths = tuple(int(part) for part in text.split(","))
    except ValueError:
        depths = ()
    if len(depths) not in (1, 2) or min(depths) < 1:
        raise argparse.ArgumentTypeError("expected N or E,D with positive integers, got %r" % text)
    return depths * 2 if len(depths) == 1 else depths


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS),
                        help="starting configuration; other flags override it")
    for flag, _, field, kind, text in FLAGS:
        if kind is bool:
            parser.add_argument(flag, dest=field, action="store_true", default=None, help=text)
        else:
            parser.add_argument(flag, dest=field, type=kind, help=text)
    parser.add_argument("--depth", type=parse_depth, metavar="N|E,D",
                        help="layers: N for both stacks, or E,D for encoder and decoder")
    parser.add_argument("--no-bidirectional", action="store_true",
                        help="attention model: a one-directional encoder")
    parser.add_argument("--broadcast-state", action=argparse.BooleanOptionalAction, default=None,
                        help="start the decoder from the thought vector (default: by --model)")
    parser.add_argument("--peek", action=argparse.BooleanOptionalAction, default=None,
                        help="feed the thought vector to every decoder step (default: by --model)")
    parser.add_argument("--no-reverse-source", action="store_true",
                        help="feed questions in reading order (default: reversed)")
    parser.add_argument("--separate-embeddings", action="store_true",
                        help="separate encoder and decoder embeddings (default: shared)")
    parser.add_argument("--no-tie-embeddings", action="store_true",
                        help="a separate output layer (the original's) instead of the "
                             "transposed embeddings")
    parser.add_argument("--no-unroll", action="store_true",
                        help="use theano.scan instead of unrolled loops (slower, any length)")
    parser.add_argument("--run-dir", default="runs/default", help="where the run is saved")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue this run exactly where it stopped")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again even if the run directory holds a model")
    parser.add_argument("--device", help="cpu (default) or cuda; needs pygpu for cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def build_config(args):
    """The run's config: a preset (or the resumed run's), then the flags."""
    from lasagne_seq2seq.rundir import RunDir
    from lasagne_seq2seq.errors import Seq2SeqError
    config = RunDir(args.resume).load_config() if args.resume else preset(args.preset)
    for flag, section, field, _, _ in FLAGS:
        value = getattr(args, field)
        if value is None:
            continue
        if args.resume and field not in RESUMABLE:
            raise Seq2SeqError("%s cannot change when resuming (only %s can): start a new "
                               "--run-dir instead" % (flag, ", ".join(sorted(RESUMABLE))))
        setattr(getattr(config, section), field, value)
    if args.depth and not args.resume:
        config.model.encoder_depth, config.model.decoder_depth = args.depth
    if not args.resume:
        config.model.reverse_source = not args.no_reverse_source
        config.model.share_embeddings = not args.separate_embeddings
        config.model.tie_embeddings = not args.no_tie_embeddings
        config.model.bidirectional = not args.no_bidirectional
        for field in ("broadcast_state", "peek"):
            if getattr(args, field) is not None:
                setattr(config.model, field, getattr(args, field))
        config.train.unroll = not args.no_unroll
    return config.validate()


def main(argv):
    args = parse_args(argv)
    select_device(args.device)
    config = build_config(args)
    from lasagne_seq2seq.train.run import train_run
    train_run(config, args.resume or args.run_dir, resume=bool(args.resume),
              overwrite=args.overwrite, progress_bar=not args.no_progress)
    return 0


if __name__ == "__main__":
    run_main(main)
