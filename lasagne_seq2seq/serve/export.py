"""Frozen models: one self-contained, checked file for inference.

:func:`export_model` turns a run directory into a single ``.npz`` file that
holds what decoding needs and nothing else (no optimiser state, no RNG, no
history)::

    header         JSON: format name and version, the RunConfig, the
                   vocabulary's tokens, the parameter names and a SHA-256
    param/<name>   one array per network parameter
    spm_model      a subword vocabulary's SentencePiece model, as uint8 bytes

:func:`load_exported` rebuilds the network from it without any training code.
The file is read with ``allow_pickle=False``, so it can never run pickled
code, and the checksum covers the header's config and vocabulary as well as
every parameter's (and the SentencePiece model's) name, dtype, shape and
bytes: a truncated, tampered or mismatched file is refused with a :class:`~lasagne_seq2seq.errors.Seq2SeqError`.
"""
import hashlib
import json
import os
import zipfile

import numpy as np

from lasagne_seq2seq.files import savez
from lasagne_seq2seq.rundir import RunDir, is_run_directory
from lasagne_seq2seq.models.registry import load_model
from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.data.vocab import SubwordVocabulary, Vocabulary

__all__ = ["FORMAT", "VERSION", "export_model", "load_exported", "load_inference_model"]

FORMAT = "lasagne_seq2seq.inference"
#: Raised whenever the layout of the file changes; older files are refused.
VERSION = 1
PARAM_PREFIX = "param/"
#: The array holding a subword vocabulary's model (its type is the config's ``data.vocab``).
SPM_ARRAY = "spm_model"


def _frozen_arrays(params, spm):
    """What the checksum covers besides the header: the parameters and the
    SentencePiece model's bytes (None for a word vocabulary)."""
    return params if spm is None else dict(params, **{SPM_ARRAY: spm})


def model_digest(config_dict, tokens, params):
    """SHA-256 of a frozen model's config, vocabulary and parameters.

    Parameters
    ----------
    config_dict : dict
        ``RunConfig.to_dict()``.
    tokens : list of str
        The vocabulary's tokens by id.
    params : mapping of str to numpy array
        Parameter values by name.

    Returns
    -------
    str
        The hex digest; equal for equal models whatever the dict order.

    Examples
    --------
    >>> a = model_digest({}, ["<pad>"], {"W": np.zeros(2, "float32")})
    >>> a == model_digest({}, ["<pad>"], {"W": np.ones(2, "float32")})
    False
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([config_dict, tokens], sort_keys=True).encode("utf-8"))
    for name in sorted(params):
        value = np.ascontiguousarray(params[name])
        digest.update(json.dumps([name, value.dtype.str, value.shape]).encode("utf-8"))
        digest.update(value.tobytes())
    return digest.hexdigest()


def export_model(run_dir, out_path, which="best"):
    """Write a run's model as one frozen inference file, atomically.

    Parameters
    ----------
    run_dir : str
        A run directory written by ``bin/train.py``.
    out_path : str
        The ``.npz`` file to write (replaced if it exists), in an existing
        folder that is not a run directory.
    which : {"best", "last"}
        The checkpoint to export; ``best`` falls back to ``last`` when the
        run never validated.

    Returns
    -------
    dict
        The file's header (format, version, config, vocabulary, parameter
        names, sha256).

    Raises
    ------
    Seq2SeqError
        If ``out_path`` is a folder, is in a missing folder or in a run
        directory (where it could replace the run's own files), or the run
        cannot be loaded.

    Examples
    --------
    >>> export_model("runs/default", "chatbot.npz")["sha256"]   # doctest: +SKIP
    '3f1c...'
    """
    check_destination(out_path)
    run = RunDir(run_dir)
    config, vocab = run.load_config(), run.load_vocab()
    params = run.load_checkpoint(which, vocab)[1]["params"]
    config_dict = config.to_dict()
    spm = None
    if isinstance(vocab, SubwordVocabulary):
        spm = np.frombuffer(vocab.model, dtype=np.uint8)
    header = {"format": FORMAT, "version": VERSION, "config": config_dict,
              "vocab": vocab.tokens, "params": sorted(params),
              "sha256": model_digest(config_dict, vocab.tokens, _frozen_arrays(params, spm))}
    arrays = {PARAM_PREFIX + name: value for name, value in params.items()}
    if spm is not None:
        arrays[SPM_ARRAY] = spm
    arrays["header"] = np.array(json.dumps(header))
    try:
        savez(out_path, arrays)
    except OSError as error:
        raise Seq2SeqError("cannot write %s (%s): export to a folder you can write to"
                           % (out_path, error.strerror or error))
    return header


def check_destination(out_path):
    """Refuse a place an exported file must not go.

    Parameters
    ----------
    out_path : str

    Raises
    ------
    Seq2SeqError
        If ``out_path`` is a folder, its folder is missing, or its folder is a
        run directory: an export there could replace the run's own
        checkpoints, and an ``--overwrite`` of the run would delete it.
    """
    folder = os.path.dirname(os.path.abspath(out_path))
    if os.path.isdir(out_path):
        raise Seq2SeqError("%s is a folder: name the file to write, e.g. %s"
                           % (out_path, os.path.join(out_path, "chatbot.npz")))
    if not os.path.isdir(folder):
        raise Seq2SeqError("folder %s of %s does not exist: create it (mkdir -p %s) or export "
                           "elsewhere" % (folder, out_path, folder))
    if is_run_directory(folder):
        raise Seq2SeqError("%s is inside the run directory %s and could replace its files: "
                           "export outside it, e.g. %s" % (
                               out_path, folder,
                               os.path.join(os.path.dirname(folder), "chatbot.npz")))


def _read_arrays(path):
    """Every array of ``path``, refusing pickles, truncation and bad CRCs."""
    if not os.path.isfile(path):
        raise Seq2SeqError("model file %s not found: write one with "
                           "`python bin/export.py RUN_DIR %s`" % (path, path))
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise Seq2SeqError("%s is truncated, corrupt or not an exported model (%s): "
                           "export it again with bin/export.py" % (path, reason))


def _read_header(path, arrays):
    """The parsed, format- and version-checked header of an exported file."""
    try:
        header = json.loads(str(arrays.pop("header")))
        found = (header["format"], header["version"])
    except (KeyError, ValueError, TypeError):
        raise Seq2SeqError("%s has no valid header: it is not a file written by "
                           "bin/export.py (pass a run directory instead, or export one)" % path)
    if found[0] != FORMAT:
        raise Seq2SeqError("%s is a %r file, not %s: export the model with bin/export.py"
                           % (path, found[0], FORMAT))
    if found[1] != VERSION:
        raise Seq2SeqError("%s is export format version %s but this code reads version %d: "
                           "export it again from its run directory with this version's "
                           "bin/export.py" % (path, found[1], VERSION))
    return header


def load_exported(path):
    """Rebuild the network of a file written by :func:`export_model`.

    Parameters
    ----------
    path : str

    Returns
    -------
    config : RunConfig
    vocab : Vocabulary
    net : Seq2Seq
        With the exported parameter values.

    Raises
    ------
    Seq2SeqError
        If the file is missing, truncated, tampered with (checksum mismatch),
        of another format version, or holds pickled objects.
    """
    from lasagne_seq2seq.models.registry import build_network
    arrays = _read_arrays(path)
    header = _read_header(path, arrays)
    params = {name[len(PARAM_PREFIX):]: value for name, value in arrays.items()
              if name.startswith(PARAM_PREFIX)}
    spm = arrays.get(SPM_ARRAY)
    try:
        tokens, config_dict = header["vocab"], header["config"]
        intact = model_digest(config_dict, tokens, _frozen_arrays(params, spm)) == header["sha256"]
    except (KeyError, TypeError):
        intact = False
    if not intact:
        raise Seq2SeqError("%s fails its SHA-256 check (modified or damaged after export): "
                           "export it again with bin/export.py" % path)
    config = RunConfig.from_dict(config_dict, source=path).validate()
    vocab = Vocabulary(tokens) if spm is None else SubwordVocabulary(spm.tobytes(),
                                                                     config.data.vocab)
    net = build_network(config.model, len(vocab))
    net.set_param_values(params, source=path)
    return config, vocab, net


def load_inference_model(path, which="best"):
    """Load a model from an exported file or a run directory.

    Parameters
    ----------
    path : str
        A file written by ``bin/export.py`` or a directory written by
        ``bin/train.py``.
    which : {"best", "last"}
        The checkpoint to use when ``path`` is a run directory.

    Returns
    -------
    config, vocab, net
        As :func:`load_exported`.
    """
    if os.path.isdir(path):
        return load_model(path, which)
    return load_exported(path)
