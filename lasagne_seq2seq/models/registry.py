"""The registry of ``--model`` names, and building or loading a network by name.

:data:`MODELS` maps every name to its class; :func:`build_network` builds the
network a config names and :func:`load_model` rebuilds a trained one from its
run directory.
"""
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.models.attention import AttentionSeq2Seq
from lasagne_seq2seq.models.seq2seq import Seq2Seq
from lasagne_seq2seq.rundir import RunDir

#: Every ``--model`` name and the class that builds it
#: (:data:`lasagne_seq2seq.config.MODEL_NAMES` lists the same names).
MODELS = dict({name: Seq2Seq for name in Seq2Seq.ARCHITECTURES}, attention=AttentionSeq2Seq)


def build_network(config, vocab_size, embedding_matrix=None):
    """The network that ``config.model`` names (a key of :data:`MODELS`).

    Parameters
    ----------
    config : ModelConfig
    vocab_size : int
    embedding_matrix : numpy array, optional

    Returns
    -------
    Seq2Seq or AttentionSeq2Seq
        Both have the :class:`EncoderDecoder` interface.
    """
    if config.model not in MODELS:
        raise Seq2SeqError("unknown model %r: choose one of %s"
                           % (config.model, ", ".join(MODELS)))
    return MODELS[config.model](config, vocab_size, embedding_matrix)


def load_model(run_dir, which="best"):
    """Rebuild a trained network from its run directory, for inference.

    Parameters
    ----------
    run_dir : str
        A directory written by ``bin/train.py``.
    which : {"best", "last"}
        The checkpoint to load; ``best`` falls back to ``last`` when the run
        never validated.

    Returns
    -------
    config : RunConfig
    vocab : Vocabulary
    net : Seq2Seq
        (or another network from :func:`~lasagne_seq2seq.models.registry.build_network`)

    Raises
    ------
    Seq2SeqError
        If a file is missing or corrupt, or the checkpoint was trained with
        another vocabulary than ``vocab.json`` (its fingerprint, or for a
        checkpoint without one its number of embedding rows, differs).
    """
    run = RunDir(run_dir)
    config = run.load_config()
    vocab = run.load_vocab()
    path, checkpoint = run.load_checkpoint(which, vocab)
    net = build_network(config.model, len(vocab))
    embedding = checkpoint["params"].get("source_embedding.W")
    if embedding is not None and embedding.shape[0] != len(vocab):
        raise Seq2SeqError("%s has %d embedding rows but %s has %d words: the vocabulary "
                           "does not belong to this checkpoint" % (path, embedding.shape[0],
                                                                 run.vocab, len(vocab)))
    net.set_param_values(checkpoint["params"], source=path)
    return config, vocab, net
