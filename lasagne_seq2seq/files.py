"""Atomic, durable file writes: every file the package writes goes through here.

A file is written under a temporary name in its own folder
(``NAME.partial-PID`` plus the suffix its writer needs), flushed to disk,
renamed over ``NAME`` and the folder's entry flushed too. A crash, a
``kill -9`` or a power loss therefore leaves either the old file or the new
one, never half of one; a temporary left by a killed process is removed by
:func:`remove_partials` the next time the folder is written.

Examples
--------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> write_json({"a": 1}, os.path.join(folder, "x.json"))
>>> sorted(os.listdir(folder))
['x.json']
"""
import contextlib
import json
import os
import re

import numpy as np

__all__ = ["atomic_path", "atomic_open", "write_json", "savez", "remove_partials",
           "fsync_path", "process_alive", "PARTIAL_MARK"]

#: What marks a temporary file of this module: ``NAME.partial-PID[SUFFIX]``.
PARTIAL_MARK = ".partial-"
_PARTIAL = re.compile(r"^(?P<name>.+)%s(?P<pid>\d+)(\.[A-Za-z0-9]+)?$" % re.escape(PARTIAL_MARK))


def fsync_path(path, directory=False):
    """Flush a file's (or, with ``directory``, a folder's entries') writes to disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def process_alive(pid):
    """Whether process ``pid`` runs (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_partials(folder):
    """Delete the temporaries that killed processes left in ``folder``.

    Parameters
    ----------
    folder : str

    Returns
    -------
    list of str
        The names removed (those of running processes are kept).
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _PARTIAL.match(name)
        if match and not process_alive(int(match["pid"])):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))
                removed.append(name)
    return removed


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """A temporary path to write; it becomes ``path`` when the block ends.

    Parameters
    ----------
    path : str or Path
        Destination; its folder is created if needed.
    suffix : str
        Ending the temporary name needs (``".npz"`` for ``numpy.savez``,
        ``".png"`` for matplotlib), so that the writer keeps the name it is given.

    Yields
    ------
    str
        Where to write. On an exception it is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    remove_partials(folder)
    tmp = "%s%s%d%s" % (path, PARTIAL_MARK, os.getpid(), suffix)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(folder, directory=True)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8"):
    """Open a file that appears at ``path`` only once complete.

    Parameters
    ----------
    path : str or Path
    mode : {"w", "wb"}
    encoding : str
        For text mode.

    Yields
    ------
    file
    """
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle


def write_json(value, path, indent=1, sort_keys=False):
    """Write ``value`` as JSON (UTF-8, a final newline), atomically."""
    with atomic_open(path) as handle:
        json.dump(value, handle, indent=indent, sort_keys=sort_keys)
        handle.write("\n")


def savez(path, arrays):
    """``numpy.savez`` of ``arrays`` (name to array) to ``path``, atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
