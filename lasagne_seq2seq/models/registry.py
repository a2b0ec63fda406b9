"""The registry of ``--model`` names, and building or loading a network by name.

:data:`MODELS` maps every name to its class; :func:`build_network` builds the
network a config names and :func:`load_model` rebuilds a trained one from its
run directory.
"""
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.models.attention import AttentionSeq2Seq
from lasagne_seq2seq.models.seq2seq import Seq2Seq
from lasagne_seq2seq.nn.cells import CELLS
from lasagne_seq2seq.rundir import RunDir

#: Every ``--model`` name and the class that builds it
#: (:data:`lasagne_seq2seq.config.MODEL_NAMES` lists the same names).
MODELS = dict({name: Seq2Seq for name in Seq2Seq.ARCHITECTURES}, attention=AttentionSeq2Seq)


def parameter_count(config, vocab_size):
    """How many parameters the network of ``config`` has at least, without building it.

    Exact for v1 and lm with any cell, depth and embeddings; for the
    models with peek or attention a lower bound (their extra decoder inputs
    and attention layers are counted in part), within a factor of two.

    Parameters
    ----------
    config : ModelConfig
    vocab_size : int

    Returns
    -------
    int

    Examples
    --------
    >>> from lasagne_seq2seq.config import ModelConfig
    >>> parameter_count(ModelConfig(hidden_size=16, embedding_size=8), 64)
    3912
    """
    E, H = config.embedding_size, config.hidden_size
    cell = CELLS[config.cell]
    gates, recurrent = cell.num_gates, cell.recurrent_gates or cell.num_gates
    directions = 2 if config.model == "attention" and config.bidirectional else 1

    def stack(n_in, depth, copies=1):
        total = 0
        for _ in range(depth):
            total += copies * (n_in * gates * H + H * recurrent * H + gates * H)
            n_in = copies * H
        return total
    count = vocab_size * E * (1 if config.share_embeddings else 2)
    count += stack(E, config.encoder_depth, directions) + stack(E, config.decoder_depth)
    if config.model == "attention":
        count += 4 * directions * H * H  # memory and query projections, bridge, context input
    count += (H * E + E + vocab_size) if config.tie_embeddings else (H * vocab_size + vocab_size)
    return count


def _available_memory():
    """Bytes of memory free for a new process (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(config, vocab_size, copies=1):
    """Refuse a network that cannot fit in memory, before building it.

    Parameters
    ----------
    config : ModelConfig
    vocab_size : int
    copies : int
        Arrays of each parameter's size the caller holds: 1 to decode; 5 to
        train (the parameter, its gradient, Adam's two moments and the
        optimiser step's input).

    Raises
    ------
    Seq2SeqError
        Naming the sizes, what they need and what the machine has free.
    """
    needed = 4 * copies * parameter_count(config, vocab_size)  # float32
    available = _available_memory()
    if available is not None and needed > available:
        raise Seq2SeqError(
            "--hidden-size %d, --embedding-size %d and a vocabulary of %d need about %.1f GB "
            "(%d parameters, %d float32 copies of each) but %.1f GB of memory are free: lower "
            "--hidden-size, --embedding-size or --vocab-size"
            % (config.hidden_size, config.embedding_size, vocab_size, needed / 1e9,
               parameter_count(config, vocab_size), copies, available / 1e9))


def build_network(config, vocab_size, embedding_matrix=None, memory_copies=1):
    """The network that ``config.model`` names (a key of :data:`MODELS`).

    Parameters
    ----------
    config : ModelConfig
    vocab_size : int
    embedding_matrix : numpy array, optional
    memory_copies : int
        As :func:`check_memory` counts them (5 to train).

    Returns
    -------
    Seq2Seq or AttentionSeq2Seq
        Both have the :class:`EncoderDecoder` interface.

    Raises
    ------
    Seq2SeqError
        For an unknown model, or one too large for the free memory.
    """
    if config.model not in MODELS:
        raise Seq2SeqError("unknown model %r: choose one of %s"
                           % (config.model, ", ".join(MODELS)))
    check_memory(config, vocab_size, memory_copies)
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
