"""Shared plumbing for the scripts in ``bin/``: one-line errors, exit codes."""
import sys

from .errors import Seq2SeqError


def run_main(main, argv=None):
    """Run a script's ``main(argv)`` and turn user errors into one line.

    Parameters
    ----------
    main : callable
        Takes the argument list, returns an exit status (or None for 0).
    argv : list of str, optional
        Arguments; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        Never returns: exits with ``main``'s status, 2 on a
        :class:`~lasagne_seq2seq.errors.Seq2SeqError` (printed as
        ``error: <message>``), 130 on Ctrl-C.
    """
    try:
        status = main(sys.argv[1:] if argv is None else argv)
    except Seq2SeqError as error:
        print("error: %s" % error, file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    sys.exit(status or 0)
