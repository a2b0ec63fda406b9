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
