"""Shared plumbing for the scripts in ``bin/``: one-line errors, exit codes, and
flags generated from the settings dataclasses (one name per setting)."""
import argparse
import dataclasses
import sys
import typing

from lasagne_seq2seq.errors import Seq2SeqError, pygpu_missing


class ArgumentParser(argparse.ArgumentParser):
    """``argparse``'s parser, whose errors are one line (not the whole usage).

    Examples
    --------
    >>> ArgumentParser(prog="train.py").format_usage()
    'usage: train.py [-h]\n'
    """

    def error(self, message):
        self.exit(2, "error: %s: %s (see %s --help)\n" % (self.prog, message, self.prog))


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


def add_device_flags(parser):
    """Add ``--device`` and ``--backend``, the same in every script that compiles.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    """
    from lasagne_seq2seq.backend.modes import BACKENDS
    parser.add_argument("--device", help="cpu (default) or cuda; needs pygpu for cuda")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="c (default): Theano's C code; jax: XLA through theano-pymc's "
                             "JAX linker, on the CPU or an NVIDIA GPU (bash setup.sh --with-jax "
                             "or --with-gpu; docs/stack.md)")


def select_device(device, backend=None):
    """Point Theano at a device and a back end; call before anything imports Theano.

    Parameters
    ----------
    device : str or None
        ``"cpu"``, ``"cuda"`` or ``"cudaN"``; None leaves ``THEANO_FLAGS`` as
        it is. An explicit device wins over one in ``THEANO_FLAGS``.
    backend : str or None
        ``"c"`` or ``"jax"`` (:mod:`lasagne_seq2seq.backend.modes`); None: ``"c"``.

    Raises
    ------
    Seq2SeqError
        If a GPU is asked for but pygpu (Theano's GPU back end) is missing,
        ``--backend jax`` without jax or with ``--device cuda`` (JAX picks
        its own device), or Theano was already imported with other settings.
    """
    import importlib.util
    import os
    from lasagne_seq2seq.backend.modes import select_backend
    if backend == "jax" and device is not None and device.startswith("cuda"):
        raise Seq2SeqError("--backend jax runs on the GPU by itself where jax-cuda12-plugin is "
                           "installed (bash setup.sh --with-gpu): drop --device %s" % device)
    select_backend(backend)
    if device is None:
        return
    if device.startswith("cuda") and importlib.util.find_spec("pygpu") is None:
        raise pygpu_missing("--device %s" % device, "--device cpu or --backend jax")
    if "theano" in sys.modules:
        raise Seq2SeqError("--device must be chosen before Theano is imported")
    from lasagne_seq2seq.backend.compat import merge_theano_flags
    os.environ["THEANO_FLAGS"] = merge_theano_flags(
        {}, "%s,device=%s" % (os.environ.get("THEANO_FLAGS", ""), device))


def _field_type(spec):
    """A dataclass field's value type (``Optional[int]`` is ``int``)."""
    args = typing.get_args(spec.type)
    return next(arg for arg in args if arg is not type(None)) if args else spec.type


def flag_name(name):
    """The command-line flag of a config field: ``vocab_size`` is ``--vocab-size``."""
    return "--" + name.replace("_", "-")


#: How ``--help`` names a value of each type.
_METAVARS = {int: "N", float: "X", str: "TEXT"}


def add_flags(parser, settings, section=None, title=None, shown=None):
    """Add one flag per field of a settings dataclass.

    The flag is the field's name (:func:`flag_name`); its help, choices and
    metavar come from the field (:func:`lasagne_seq2seq.config.setting`). A
    boolean field gets ``--name`` and ``--no-name``. Every flag defaults to
    None, so :func:`given_settings` tells the flags a user gave from the rest.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    settings : dataclass type
        :class:`~lasagne_seq2seq.config.DataConfig` (or another section of
        :class:`~lasagne_seq2seq.config.RunConfig`), or
        :class:`~lasagne_seq2seq.decode.options.DecodeOptions`.
    section : str, optional
        The config section the fields belong to (their ``dest`` is
        ``section.field``, so sections may share a field name).
    title : str, optional
        The heading of the flags in ``--help`` (default: the class's docstring).
    shown : settings instance, optional
        Whose values ``--help`` names as the defaults (a preset's section,
        where a script starts from a preset); the class's own when omitted.

    Examples
    --------
    >>> import argparse
    >>> from lasagne_seq2seq.config import DataConfig
    >>> parser = argparse.ArgumentParser()
    >>> add_flags(parser, DataConfig, "data")
    >>> given_settings(parser.parse_args(["--vocab-size", "500"]), DataConfig, "data")
    {'vocab_size': 500}
    """
    group = parser.add_argument_group(title or settings.__doc__.strip().splitlines()[0].rstrip("."))
    for spec in dataclasses.fields(settings):
        kind = _field_type(spec)
        meta = spec.metadata
        dest = "%s.%s" % (section, spec.name) if section else spec.name
        default = spec.default if shown is None else getattr(shown, spec.name)
        if kind is bool:
            # A switch left unset (None) says in its own help what decides it.
            text = "" if default is None else " (default: %s)" % ("on" if default else "off")
            group.add_argument(flag_name(spec.name), dest=dest, default=None,
                               action=argparse.BooleanOptionalAction,
                               help=meta.get("help", "") + text)
            continue
        text = "" if default in (None, "") else " (default: %s)" % default
        group.add_argument(flag_name(spec.name), dest=dest, type=kind, default=None,
                           choices=meta.get("choices"),
                           metavar=None if meta.get("choices") else (
                               meta.get("metavar") or _METAVARS[kind]),
                           help=meta.get("help", "") + text)


def given_settings(args, settings, section=None):
    """The fields of ``settings`` whose flags were given, by field name.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser that :func:`add_flags` prepared.
    settings : dataclass type
    section : str, optional
        As given to :func:`add_flags`.

    Returns
    -------
    dict
    """
    values = {}
    for spec in dataclasses.fields(settings):
        value = getattr(args, "%s.%s" % (section, spec.name) if section else spec.name)
        if value is not None:
            values[spec.name] = value
    return values


def apply_flags(config, args, resume=False):
    """Set every config field whose flag was given, in place.

    Parameters
    ----------
    config : RunConfig
    args : argparse.Namespace
        With the flags of every section (:func:`add_flags` per section).
    resume : bool
        Resuming a run: only the schedule's fields (``resumable``) may
        change; any other flag is refused rather than ignored.

    Returns
    -------
    RunConfig
        ``config``.

    Raises
    ------
    Seq2SeqError
        For a flag that cannot change when resuming.
    """
    from lasagne_seq2seq.config import SECTIONS
    for section, settings in SECTIONS.items():
        values = given_settings(args, settings, section)
        fixed = [spec.name for spec in dataclasses.fields(settings)
                 if spec.name in values and not spec.metadata.get("resumable")]
        if resume and fixed:
            allowed = [flag_name(spec.name) for kind in SECTIONS.values()
                       for spec in dataclasses.fields(kind) if spec.metadata.get("resumable")]
            raise Seq2SeqError("%s cannot change when resuming (only %s can): start a new "
                               "--run-dir instead" % (flag_name(fixed[0]), ", ".join(allowed)))
        for name, value in values.items():
            setattr(getattr(config, section), name, value)
    return config


def decode_options(args, has_lm=False, has_backward=False):
    """The :class:`~lasagne_seq2seq.decode.options.DecodeOptions` the flags give, validated.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser with ``add_flags(parser, DecodeOptions)``.
    has_lm, has_backward : bool
        Whether a language model / a backward model will be loaded.

    Returns
    -------
    DecodeOptions
    """
    from lasagne_seq2seq.decode.options import DecodeOptions
    options = DecodeOptions.from_dict(given_settings(args, DecodeOptions))
    return options.validate(has_lm=has_lm, has_backward=has_backward)
