"""Shared plumbing for the scripts in ``bin/``: one-line errors, exit codes."""
import sys

from lasagne_seq2seq.errors import Seq2SeqError, pygpu_missing


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


def select_device(device):
    """Point Theano at a device; call before anything imports Theano.

    Parameters
    ----------
    device : str or None
        ``"cpu"``, ``"cuda"`` or ``"cudaN"``; None leaves ``THEANO_FLAGS`` as
        it is. An explicit device wins over one in ``THEANO_FLAGS``.

    Raises
    ------
    Seq2SeqError
        If a GPU is asked for but pygpu (Theano's GPU back end) is missing,
        or Theano was already imported with other settings.
    """
    import importlib.util
    import os
    if device is None:
        return
    if device.startswith("cuda") and importlib.util.find_spec("pygpu") is None:
        raise pygpu_missing("--device %s" % device, "--device cpu")
    if "theano" in sys.modules:
        raise Seq2SeqError("--device must be chosen before Theano is imported")
    flags = os.environ.get("THEANO_FLAGS", "")
    os.environ["THEANO_FLAGS"] = ",".join(filter(None, [flags, "device=%s" % device]))
