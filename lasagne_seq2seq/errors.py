"""The one exception type for problems a user can fix.

Every error caused by input (a missing corpus, a bad checkpoint, an invalid
flag) is raised as :class:`Seq2SeqError` with a one-line message that names
the file and the fix. Scripts in ``bin/`` print it as ``error: <message>`` and
exit with status 2; anything else is a bug and keeps its traceback.
"""


class Seq2SeqError(Exception):
    """A user-fixable problem, described in one line.

    Parameters
    ----------
    message : str
        What is wrong, which file or flag, and how to fix it.

    Examples
    --------
    >>> raise Seq2SeqError("corpus 'x.txt' not found: run `bash setup.sh`")
    Traceback (most recent call last):
    ...
    lasagne_seq2seq.errors.Seq2SeqError: corpus 'x.txt' not found: run `bash setup.sh`
    """


def pygpu_missing(setting, cpu_setting):
    """The error for a GPU asked for without pygpu, Theano's GPU back end.

    Parameters
    ----------
    setting : str
        What asked for the GPU, e.g. ``"--device cuda"``.
    cpu_setting : str
        What runs on the CPU instead, e.g. ``"--device cpu"``.

    Returns
    -------
    Seq2SeqError

    Examples
    --------
    >>> str(pygpu_missing("--device cuda", "--device cpu"))[:34]
    '--device cuda needs pygpu, which i'
    """
    return Seq2SeqError(
        "%s needs pygpu, which is not on PyPI: install Debian's python3-pygpu and "
        "libgpuarray3 (apt-get install python3-pygpu libgpuarray3) and recreate .venv with "
        "--system-site-packages, or use %s" % (setting, cpu_setting))
