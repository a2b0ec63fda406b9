"""A training run from a config: data, network, trainer, run directory.

:func:`train_run` is what ``bin/train.py`` calls: it builds (or reloads) the
dataset, the network and its optional pretrained embeddings and device
placement, then hands them to :class:`~lasagne_seq2seq.train.trainer.Trainer`
or, for ``model.remember_state``,
:class:`~lasagne_seq2seq.train.multiturn.MultiTurnTrainer`; as one rank of
several, to :class:`~lasagne_seq2seq.train.distributed.DistributedTrainer`.
"""
import dataclasses
import time
import numpy as np
import lasagne
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.train.trainer import Trainer


def train_run(config, run_dir, resume=False, overwrite=False, progress_bar=True, log=None,
              world=None):
    """Prepare data, build the network and train it: what ``bin/train.py`` runs.

    Parameters
    ----------
    config : RunConfig
        The run's configuration (ignored in favour of the saved one when
        resuming, apart from the schedule already merged into it by the caller).
    run_dir : str
        The run directory.
    resume : bool
        Continue the run saved in ``run_dir`` exactly where it stopped.
    overwrite : bool
        Start again even if ``run_dir`` already holds a checkpoint; the old
        run stays there, loadable, until the new one's first checkpoint.
    progress_bar : bool
        Show a progress bar (off in logs and CI).
    log : callable, optional
        Prints one line; ``tqdm.write`` by default (rank 0 only).
    world : World, optional
        The ranks of a data-parallel run (:func:`lasagne_seq2seq.train.mpi.world`);
        one process by default.

    Returns
    -------
    dict
        The trainer's final progress record.
    """
    from tqdm import tqdm
    from lasagne_seq2seq.rundir import RunDir
    from lasagne_seq2seq.data.batches import build_dataset
    from lasagne_seq2seq.decode.options import SAMPLE_QUESTIONS
    from lasagne_seq2seq.backend.devices import parse_devices, place_network
    from lasagne_seq2seq.models.registry import build_network
    from lasagne_seq2seq.train.distributed import DistributedTrainer, check_distributable
    from lasagne_seq2seq.train.mpi import World
    world = world or World()
    writer = world.rank == 0
    log = (log or tqdm.write) if writer else (lambda line: None)
    progress_bar = progress_bar and writer
    if world.size > 1:
        check_distributable(config)
    run = RunDir(run_dir)
    if resume and not run.has_checkpoint():
        raise Seq2SeqError("--resume %s: no checkpoint (last.npz or best.npz) there to resume "
                           "from" % run_dir)
    if run.has_checkpoint() and not (resume or overwrite):
        raise Seq2SeqError("%s already holds a trained model: pass --resume %s to continue it, "
                           "--overwrite to start again, or another --run-dir"
                           % (run_dir, run_dir))
    config.validate()
    for name in run.clean() if writer else ():
        log("removed %s, left by a killed run" % name)
    devices = parse_devices(config.model.devices)  # a bad mapping fails before the slow part
    d = config.data
    vocab = run.load_vocab() if resume else None
    started = time.time()
    if not writer:
        world.barrier()  # rank 0 tokenizes first and caches: the others read its cache
    dataset = build_dataset(d.corpus, fmt=d.format, encoding=d.encoding, tokenizer=d.tokenizer,
                            pairing=d.pairing, vocab_size=d.vocab_size, min_count=d.min_count,
                            max_src_len=d.max_src_len, max_tgt_len=d.max_tgt_len,
                            valid_fraction=d.valid_fraction, test_fraction=d.test_fraction,
                            seed=config.train.seed, vocab=vocab, max_pairs=d.max_pairs,
                            vocab_type=d.vocab)
    if writer:
        world.barrier()
    if d.reverse_pairs:  # p(S|T): replies become questions, for MMI-bidi
        for split in ("train", "valid", "test"):
            pairs = getattr(dataset, split)
            setattr(dataset, split, dataclasses.replace(pairs, src=pairs.tgt, tgt=pairs.src))
    log("%s (%.0f s)" % (dataset.summary(), time.time() - started))
    embedding_matrix = None
    if config.train.embeddings and not resume:
        from lasagne_seq2seq.data.embeddings import resolve_embeddings
        # word2vec reads the corpus twice (cache key, then training): a list.
        corpus_tokens = [dataset.vocab.decode(ids) for ids in dataset.train.src + dataset.train.tgt]
        embedding_matrix, report = resolve_embeddings(
            config.train.embeddings, dataset.vocab, token_lists=corpus_tokens,
            dim=config.model.embedding_size, init=config.train.embeddings_init,
            seed=config.train.seed, progress=progress_bar,
            trust_pickle=config.train.trust_pickle)
        log(report.summary())
    # Lasagne draws initial weights and dropout seeds from its global generator
    # when layers are built: seed it here so a run does not depend on what ran
    # before it in the same process.
    lasagne.random.set_rng(np.random.RandomState(config.train.seed))
    # Training holds each parameter five times: itself, its gradient, Adam's
    # two moments and the optimiser step's input.
    net = build_network(config.model, len(dataset.vocab), embedding_matrix=embedding_matrix,
                        memory_copies=5)
    # Decoding steps bypass the layers' transfers: no sample replies from placed layers.
    placed = place_network(net, devices, log)
    if not resume and writer:
        # Replacing a run: the old one stays loadable until the new one's first checkpoint.
        run.create(config, dataset.vocab, replace=run.has_checkpoint())
    options = dict(log=log, sample_questions=() if placed else SAMPLE_QUESTIONS[-9:-4])
    if world.size > 1:
        trainer = DistributedTrainer(world, net, dataset, config, run, **options)
    elif config.model.remember_state:
        from lasagne_seq2seq.train.multiturn import MultiTurnTrainer
        trainer = MultiTurnTrainer(net, dataset, config, run, **options)
    else:
        trainer = Trainer(net, dataset, config, run, **options)
    try:
        if resume:
            trainer.resume(run.checkpoint("last"))
            if writer:  # only a resume that succeeded records its new schedule
                run.save_config(config)
        elif config.train.init_encoder:
            trainer.warm_start_encoder(config.train.init_encoder)
        if world.size > 1:
            trainer.synchronise()
        log("training %s (%s, %d hidden, %d parameters) on %d pairs -> %s" % (
            config.model.model, config.model.cell, config.model.hidden_size,
            sum(p.get_value(borrow=True).size for p in net.params), len(dataset.train), run_dir))
        progress = trainer.train(progress_bar=progress_bar)
    finally:
        if writer:
            run.discard()  # a replacement that failed before its first checkpoint
    best = progress["best_valid_ppl"]
    log("done: %s; %d steps, %.1f min training, %.0f tokens/s, best valid ppl %s at step %s -> %s"
        % (progress["stop_reason"], progress["step"], progress["train_seconds"] / 60,
           progress["tokens_per_second"], "%.2f" % best if best else "-", progress["best_step"],
           run_dir))
    return progress
