"""Run directories and checkpoints: atomic writes, checked reads.

A run directory holds everything needed to reload a model without flags::

    config.json    the RunConfig (lasagne_seq2seq.config)
    vocab.json     the vocabulary
    last.npz       parameters + optimiser + RNG + progress (for --resume)
    best.npz       the same, at the best validation perplexity
    history.json   validation and training curves (also curve.png)

Every file is written through :mod:`lasagne_seq2seq.files`, so a crash or
Ctrl-C never leaves a half-written checkpoint behind, and a run directory is
loadable at every moment: a run that replaces another (``--overwrite``) is
built beside it, in ``RUN.new-PID``, and swapped in by one atomic rename at
its first checkpoint. Every checkpoint records a fingerprint of the
vocabulary it was trained with, and loading one with another vocabulary
(even the same words in another order) is refused.
"""
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import zipfile
import numpy as np
from lasagne_seq2seq.config import load_config, save_config
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.files import fsync_path, process_alive, remove_partials, savez

#: The files a run directory owns (``bin/export.py`` never writes beside them).
RUN_FILES = ("config.json", "vocab.json", "last.npz", "best.npz", "history.json", "curve.png")


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
        # Where files go: the path itself, or a replacement's staging folder
        # until commit() swaps it in.
        self._folder = self.path

    @property
    def config(self):
        return os.path.join(self._folder, "config.json")

    @property
    def vocab(self):
        return os.path.join(self._folder, "vocab.json")

    @property
    def history(self):
        return os.path.join(self._folder, "history.json")

    @property
    def curve(self):
        return os.path.join(self._folder, "curve.png")

    def checkpoint(self, which):
        """Path of the ``"last"`` or ``"best"`` checkpoint."""
        return os.path.join(self._folder, "%s.npz" % which)

    def has_checkpoint(self):
        """Whether the directory holds a checkpoint (``last.npz`` or ``best.npz``)."""
        return any(os.path.exists(self.checkpoint(which)) for which in ("last", "best"))

    def create(self, config, vocab, replace=False):
        """Write the config and vocabulary of a new run.

        Parameters
        ----------
        config : RunConfig
        vocab : Vocabulary
        replace : bool
            The directory holds another run: build the new one in a staging
            folder beside it, so that the directory keeps the old, loadable
            run until :meth:`commit` swaps the new one in (or
            :meth:`discard` drops it).
        """
        if replace:
            self._folder = _sibling(self.path, "new", os.getpid())
            shutil.rmtree(self._folder, ignore_errors=True)
        os.makedirs(self._folder, exist_ok=True)
        save_config(config, self.config)
        vocab.save(self.vocab)

    def save_config(self, config):
        """Rewrite ``config.json`` (a resumed run's new schedule)."""
        save_config(config, self.config)

    def commit(self):
        """Swap a replacement built aside in for the old run; a no-op otherwise.

        Called once the replacement holds a checkpoint: the directory goes
        from the old complete run to the new one in one rename, and the old
        run, left under the staging name, is then deleted.
        """
        if self._folder == self.path:
            return
        _exchange(self._folder, self.path)
        shutil.rmtree(self._folder)
        self._folder = self.path

    def discard(self):
        """Delete a replacement that never reached :meth:`commit`."""
        if self._folder != self.path:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = self.path

    def clean(self):
        """Remove what killed processes left: temporary files in the directory,
        and staging folders of replacements beside it.

        Returns
        -------
        list of str
            What was removed.
        """
        parent, name = os.path.split(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            return []
        pattern = re.compile(r"^%s\.(new|old)-(\d+)$" % re.escape(name))
        stale = {}
        for entry in sorted(os.listdir(parent)):
            match = pattern.match(entry)
            if match and not process_alive(int(match[2])):
                stale[os.path.join(parent, entry)] = match[1]
        if not os.path.exists(self.path) and set(stale.values()) == {"new", "old"}:
            # Killed between the renames of a swap without an atomic exchange:
            # the replacement was complete (commit follows a checkpoint).
            new = next(path for path, kind in stale.items() if kind == "new")
            os.rename(new, self.path)
            del stale[new]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return [os.path.basename(path) for path in stale] + remove_partials(self.path)

    def load_config(self):
        if not os.path.isdir(self.path):
            raise Seq2SeqError("run directory %s does not exist: train one with "
                               "`python bin/train.py --run-dir %s`" % (self.path, self.path))
        return load_config(self.config)

    def load_vocab(self):
        from lasagne_seq2seq.data.vocab import Vocabulary
        return Vocabulary.load(self.vocab)

    def load_checkpoint(self, which, vocab):
        """A checkpoint of this run, checked against the run's vocabulary.

        Parameters
        ----------
        which : {"best", "last"}
            ``best`` falls back to ``last`` when the run never validated.
        vocab : Vocabulary
            The run's vocabulary (from :meth:`load_vocab`).

        Returns
        -------
        path : str
            The file read.
        checkpoint : dict
            As :func:`load_checkpoint`.
        """
        path = self.checkpoint(which)
        if which == "best" and not os.path.exists(path):
            path = self.checkpoint("last")
        checkpoint = load_checkpoint(path)
        check_vocabulary(checkpoint, path, vocab, self.vocab)
        return path, checkpoint


def is_run_directory(folder):
    """Whether ``folder`` holds a run (any of :data:`RUN_FILES`)."""
    return any(os.path.exists(os.path.join(folder, name)) for name in RUN_FILES)


def _sibling(path, kind, pid):
    """``RUN.new-PID`` or ``RUN.old-PID``: a folder beside the run directory."""
    return "%s.%s-%d" % (os.path.abspath(path).rstrip(os.sep), kind, pid)


def _exchange(new, old):
    """Give ``old``'s name to the folder ``new`` and ``new``'s to ``old``.

    Linux's ``renameat2(RENAME_EXCHANGE)`` swaps both names in one step;
    elsewhere two renames leave a moment without ``old``, which
    :meth:`RunDir.clean` repairs after a kill.
    """
    rename_exchange, at_fdcwd = 2, -100
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None or renameat2(at_fdcwd, os.fsencode(new), at_fdcwd,
                                      os.fsencode(old), rename_exchange) != 0:
        code = ctypes.get_errno() if renameat2 is not None else errno.ENOSYS
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), old)
        aside = _sibling(old, "old", os.getpid())
        os.rename(old, aside)
        os.rename(new, old)
        os.rename(aside, new)
    fsync_path(os.path.dirname(os.path.abspath(old)), directory=True)


def vocab_fingerprint(vocab):
    """SHA-256 of a vocabulary's tokens in id order.

    Examples
    --------
    >>> from lasagne_seq2seq.data.vocab import SPECIALS, Vocabulary
    >>> a = vocab_fingerprint(Vocabulary(list(SPECIALS) + ["x", "y"]))
    >>> a == vocab_fingerprint(Vocabulary(list(SPECIALS) + ["y", "x"]))
    False
    """
    return hashlib.sha256(json.dumps(vocab.tokens).encode("utf-8")).hexdigest()


def check_vocabulary(checkpoint, path, vocab, vocab_path):
    """Refuse a checkpoint trained with another vocabulary.

    Checkpoints written before fingerprints were recorded have none and are
    accepted (the embedding shapes are still checked when loading).

    Parameters
    ----------
    checkpoint : dict
        As :func:`load_checkpoint`.
    path : str
        Its file, for the message.
    vocab : Vocabulary
    vocab_path : str
        The vocabulary's file, for the message.

    Raises
    ------
    Seq2SeqError
        If the checkpoint's fingerprint is not ``vocab``'s.
    """
    recorded = checkpoint["vocab_sha256"]
    if recorded is not None and recorded != vocab_fingerprint(vocab):
        raise Seq2SeqError("%s was trained with another vocabulary than %s (other words, or the "
                           "same in another order), so its replies would be garbage: put back "
                           "the vocab.json it was trained with, or retrain" % (path, vocab_path))


def save_checkpoint(path, params, optimizer_state=(), rng_state=None, progress=None,
                    vocab=None):
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
    vocab : Vocabulary, optional
        The vocabulary the parameters were trained with: its
        :func:`vocab_fingerprint` is recorded as ``vocab_sha256``.
    """
    arrays = {"param/%s" % name: value for name, value in params.items()}
    arrays.update(("optimizer/%05d" % i, v) for i, v in enumerate(optimizer_state))
    arrays.update(("rng/%s" % name, v) for name, v in (rng_state or {}).items())
    arrays["progress"] = np.array(json.dumps(progress or {}))
    if vocab is not None:
        arrays["vocab_sha256"] = np.array(vocab_fingerprint(vocab))
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
        (name to array), ``progress`` (dict), ``vocab_sha256`` (str, or None
        in a checkpoint that predates fingerprints).

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
    fingerprint = arrays.get("vocab_sha256")
    return {
        "params": params,
        "optimizer": [arrays[k] for k in sorted(arrays) if k.startswith("optimizer/")],
        "rng": {k[len("rng/"):]: v for k, v in arrays.items() if k.startswith("rng/")},
        "progress": progress,
        "vocab_sha256": None if fingerprint is None else str(fingerprint),
    }


def load_resumable(path, fallback, log):
    """The checkpoint to resume from: ``path``, or ``fallback`` when ``path``
    is missing or unreadable.

    Parameters
    ----------
    path : str
        Normally the run's ``last.npz``.
    fallback : str
        Normally its ``best.npz``: the same state, at the best validation.
    log : callable
        Prints the warning line when the fallback is used.

    Returns
    -------
    path : str
        The file read.
    checkpoint : dict
        As :func:`load_checkpoint`.

    Raises
    ------
    Seq2SeqError
        If neither file can be read.
    """
    try:
        return path, load_checkpoint(path)
    except Seq2SeqError as error:
        if path == fallback or not os.path.exists(fallback):
            raise
        try:
            checkpoint = load_checkpoint(fallback)
        except Seq2SeqError as second:
            raise Seq2SeqError("cannot resume: %s; and %s" % (error, second))
        log("warning: resuming from %s (step %d) instead of %s, which cannot be read (the "
            "steps after it are trained again): %s"
            % (fallback, checkpoint["progress"].get("step", 0), path, error))
        return fallback, checkpoint
