"""Run directories and checkpoints: atomic writes, checked reads.

A run directory holds everything needed to reload a model without flags::

    config.json    the RunConfig (lasagne_seq2seq.config)
    vocab.json     the vocabulary
    last.npz       parameters + optimiser + RNG + progress (for --resume)
    best.npz       the same, at the best validation perplexity
    history.json   validation and training curves (also curve.png)

Every file is written through :mod:`lasagne_seq2seq.files`, so a crash or
Ctrl-C never leaves a half-written checkpoint behind.
"""
import json
import os
import zipfile
import numpy as np
from lasagne_seq2seq.config import load_config, save_config
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.files import savez


class RunDir(object):
    """Paths inside a run directory.

    Parameters
    ----------
    path : str
        The directory (created on :meth:`create`).

    Examples
    --------
    >>> RunDir("runs/demo").checkpoint("best")
    'runs/demo/best.npz'
    """

    def __init__(self, path):
        self.path = str(path)
        self.config = os.path.join(self.path, "config.json")
        self.vocab = os.path.join(self.path, "vocab.json")
        self.history = os.path.join(self.path, "history.json")
        self.curve = os.path.join(self.path, "curve.png")

    def checkpoint(self, which):
        """Path of the ``"last"`` or ``"best"`` checkpoint."""
        return os.path.join(self.path, "%s.npz" % which)

    def has_checkpoint(self):
        return os.path.exists(self.checkpoint("last"))

    def create(self, config, vocab):
        """Make the directory and write the config and vocabulary."""
        os.makedirs(self.path, exist_ok=True)
        save_config(config, self.config)
        vocab.save(self.vocab)

    def load_config(self):
        if not os.path.isdir(self.path):
            raise Seq2SeqError("run directory %s does not exist: train one with "
                               "`python bin/train.py --run-dir %s`" % (self.path, self.path))
        return load_config(self.config)

    def load_vocab(self):
        from lasagne_seq2seq.data.vocab import Vocabulary
        return Vocabulary.load(self.vocab)




def save_checkpoint(path, params, optimizer_state=(), rng_state=None, progress=None):
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str
        Destination ``.npz`` file.
    params : mapping of str to array
        Parameter values by name.
    optimizer_state : sequence of arrays
        The optimiser's accumulators, in the order the trainer creates them.
    rng_state : mapping of str to array, optional
        The dropout generators' states by name.
    progress : dict, optional
        JSON-serialisable training progress (step, epoch, best score, ...).
    """
    arrays = {"param/%s" % name: value for name, value in params.items()}
    arrays.update(("optimizer/%05d" % i, v) for i, v in enumerate(optimizer_state))
    arrays.update(("rng/%s" % name, v) for name, v in (rng_state or {}).items())
    arrays["progress"] = np.array(json.dumps(progress or {}))
    savez(path, arrays)




def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str

    Returns
    -------
    dict
        ``params`` (name to array), ``optimizer`` (list of arrays), ``rng``
        (name to array), ``progress`` (dict).

    Raises
    ------
    Seq2SeqError
        If the file is missing, truncated or not a checkpoint.
    """
    if not os.path.exists(path):
        raise Seq2SeqError("checkpoint %s not found: train first (bin/train.py) or pass "
                           "the run directory that holds it" % path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        progress = json.loads(str(arrays.pop("progress")))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise Seq2SeqError("checkpoint %s is truncated or corrupt (%s): use the other "
                           "checkpoint in its run directory (best.npz/last.npz) or retrain"
                           % (path, str(error).splitlines()[0] if str(error) else type(error).__name__))
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    if not params:
        raise Seq2SeqError("%s holds no parameters: it is not a lasagne_seq2seq checkpoint" % path)
    return {
        "params": params,
        "optimizer": [arrays[k] for k in sorted(arrays) if k.startswith("optimizer/")],
        "rng": {k[len("rng/"):]: v for k, v in arrays.items() if k.startswith("rng/")},
        "progress": progress,
    }
