"""The typed configuration of a run, its presets, and its JSON form.

One :class:`RunConfig` describes a run completely (data, model, training). It
is built from presets and command-line flags, saved as ``config.json`` beside
every checkpoint, and read back by every script that loads the checkpoint, so
a model can be decoded without remembering how it was trained.
"""
import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Optional

from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.files import write_json

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "RunConfig", "PRESETS",
           "MODELS", "OPTIMIZERS", "CELL_NAMES", "ATTENTION_SCORES", "NORM_STABILIZED",
           "EMBEDDING_INITS", "SECTIONS", "preset", "save_config", "load_config"]

#: Architectures: whether the thought vector initialises the decoder's state
#: (``state``) and whether it is fed to every decoder step (``peek``).
MODELS = {
    "v1": dict(state=True, peek=False),      # the original's seq2seq v1
    "v2": dict(state=True, peek=True),       # the original's v2 ("feeding")
    "simple": dict(state=False, peek=True),  # seed 004's SimpleSeq2Seq
    # A language model of replies, p(T): the decoder alone, for anti-LM decoding.
    "lm": dict(state=False, peek=False),
    # seed 004's AttentionSeq2Seq (lasagne_seq2seq.attention): the decoder
    # starts from a bridge of the encoder's final states and attends to all
    # of its states at every step.
    "attention": dict(state=True, peek=True),
}
OPTIMIZERS = ("adam", "adadelta")
CELL_NAMES = ("lstm", "gru", "jzs1", "jzs2", "jzs3", "irnn")  # lasagne_seq2seq.nn.cells.CELLS
ATTENTION_SCORES = ("additive", "general")
NORM_STABILIZED = ("hidden", "logits", "both")
#: How vocabulary rows without a pretrained vector start (lasagne_seq2seq.embeddings).
EMBEDDING_INITS = ("random", "zero", "mean")


@dataclass
class DataConfig:
    """Which corpus, and how it is tokenised, paired, split and capped."""
    corpus: str = "chitchat"
    format: str = "auto"
    encoding: str = "utf-8"
    tokenizer: str = "default"
    pairing: str = "consecutive"
    vocab_size: int = 8000
    min_count: int = 1
    max_src_len: int = 15
    max_tgt_len: int = 15
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    max_pairs: Optional[int] = None
    # Swap question and reply: a backward model p(S|T) for MMI-bidi reranking.
    reverse_pairs: bool = False


@dataclass
class ModelConfig:
    """The network: architecture, cell, sizes, depth, dropout."""
    model: str = "v1"
    cell: str = "lstm"
    embedding_size: int = 128
    hidden_size: int = 256
    encoder_depth: int = 1
    decoder_depth: int = 1
    dropout: float = 0.0
    reverse_source: bool = True
    share_embeddings: bool = True
    # Output layer = transposed (target) embeddings (Press & Wolf 2017): fewer
    # parameters, a cheaper softmax layer, and words copy naturally.
    tie_embeddings: bool = True
    grad_clipping: float = 0.0
    # Override the architecture's state transfer / peek (seed 004's
    # broadcast_state and peek); None keeps what MODELS says.
    broadcast_state: Optional[bool] = None
    peek: Optional[bool] = None
    # Replace decoder input words by <unk> with this probability (training).
    word_dropout: float = 0.0
    # Attention: bidirectional encoder, score function, attention units (0: hidden_size).
    bidirectional: bool = True
    attention_score: str = "additive"
    attention_size: int = 0
    # Norm-stabiliser factor beta (Krueger & Memisevic 2015; 0: off) and
    # what it stabilises: decoder hidden states, logits or both.
    norm_stabilizer: float = 0.0
    norm_stabilize: str = "hidden"
    # Multi-turn training: carry the encoder state across the exchanges of
    # a conversation (seed 001's remember_state; lasagne_seq2seq.multiturn).
    remember_state: bool = False
    # Per-layer device placement, "LAYER=CONTEXT,..." (lasagne_seq2seq.devices).
    devices: str = ""


@dataclass
class TrainConfig:
    """Optimisation, schedule, checkpoints and warm starts."""
    optimizer: str = "adam"
    learning_rate: float = 0.001
    batch_size: int = 64
    max_grad_norm: float = 5.0
    # Sampled softmax (Jean et al. 2015): candidate words per training step
    # (0: the full softmax). Validation and decoding always use the full one.
    sampled_softmax: int = 0
    epochs: int = 20
    max_minutes: float = 0.0
    max_steps: int = 0
    validate_every: int = 500
    sample_every: int = 1000
    patience: int = 5
    seed: int = 0
    buckets: int = 2
    unroll: bool = True
    embeddings: Optional[str] = None
    # How rows without a pretrained vector start: one of EMBEDDING_INITS.
    embeddings_init: str = "random"
    freeze_embeddings: bool = False
    init_encoder: Optional[str] = None
    freeze_encoder_epochs: int = 0


#: How errors name the types of config fields.
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}


def _describe(value):
    """A JSON value as an error names it: its JSON type, then the value."""
    if value is None:
        return "null"
    kind = {bool: "the boolean", int: "the number", float: "the number", str: "the string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)
    shown = json.dumps(value)
    return "%s %s" % (kind, shown if len(shown) <= 40 else shown[:37] + "...")


def _checked_value(value, spec, where):
    """``value`` if it suits the dataclass field ``spec`` (an int also suits
    a float field, and becomes a float), else a :class:`Seq2SeqError`
    starting with ``where``."""
    args = typing.get_args(spec.type)  # Optional[X] is Union[X, None]
    kind = next(arg for arg in args if arg is not type(None)) if args else spec.type
    if value is None and args:
        return value
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is float:  # an int is a number too; bool is an int in Python, not here
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        expected = _TYPE_NAMES[kind]
        if args:
            expected = expected.replace(" or ", ", ") + " or null"
        raise Seq2SeqError("%s must be %s, not %s: write e.g. %s (the default), or retrain"
                           % (where, expected, _describe(value), json.dumps(spec.default)))
    return value


@dataclass
class RunConfig:
    """Everything a run needs; saved as ``config.json`` in the run directory."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self):
        """Raise :class:`Seq2SeqError` for values that cannot work."""
        m, t, d = self.model, self.train, self.data
        checks = [
            (m.model in MODELS, "--model must be one of %s" % ", ".join(MODELS)),
            (t.optimizer in OPTIMIZERS, "--optimizer must be one of %s" % ", ".join(OPTIMIZERS)),
            (m.cell in CELL_NAMES, "--cell must be one of %s" % ", ".join(CELL_NAMES)),
            (0.0 <= m.dropout < 1.0, "--dropout must be in [0, 1)"),
            (0.0 <= m.word_dropout < 1.0, "--word-dropout must be in [0, 1)"),
            (m.attention_score in ATTENTION_SCORES,
             "--attention-score must be one of %s" % ", ".join(ATTENTION_SCORES)),
            (m.attention_size >= 0, "--attention-size must be >= 0 (0: the hidden size)"),
            (m.norm_stabilizer >= 0, "--norm-stabilizer must be >= 0 (0: off)"),
            (m.norm_stabilize in NORM_STABILIZED,
             "--norm-stabilize must be one of %s" % ", ".join(NORM_STABILIZED)),
            (min(m.embedding_size, m.hidden_size, m.encoder_depth, m.decoder_depth) > 0,
             "sizes and depths must be positive"),
            (t.batch_size > 0 and t.learning_rate > 0, "--batch-size and --lr must be positive"),
            (d.vocab_size > 4, "--vocab-size must leave room for the 4 special tokens"),
            (d.max_src_len > 0 and d.max_tgt_len > 0, "--max-len must be positive"),
            (t.buckets > 0, "--buckets must be at least 1"),
            (t.embeddings_init in EMBEDDING_INITS,
             "--embeddings-init must be one of %s" % ", ".join(EMBEDDING_INITS)),
            (0 <= t.sampled_softmax < d.vocab_size,
             "--sampled-softmax must be between 0 (off) and the vocabulary size"),
        ]
        for ok, message in checks:
            if not ok:
                raise Seq2SeqError(message)
        return self

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values, source="config"):
        """Build from a dict (parsed JSON), checking every section and value.

        Parameters
        ----------
        values : dict
            ``{"data": {...}, "model": {...}, "train": {...}}``; a missing
            section or setting takes its default.
        source : str
            The file the dict was read from, named in errors.

        Raises
        ------
        Seq2SeqError
            Naming ``source``, the field and the fix, for an unknown section
            or setting (a config from another version), a section that is not
            an object, or a value of the wrong type.
        """
        if not isinstance(values, dict):
            raise Seq2SeqError("%s must hold a JSON object with data, model and train sections, "
                               "not %s: restore it or retrain" % (source, _describe(values)))
        unknown = sorted(set(values) - set(SECTIONS))
        if unknown:
            raise Seq2SeqError("%s: unknown sections %s (written by another version?)"
                               % (source, ", ".join(unknown)))
        sections = {}
        for name, section_type in SECTIONS.items():
            given = values.get(name, {})
            if not isinstance(given, dict):
                raise Seq2SeqError("%s: %r must be an object of %s settings, not %s: restore "
                                   "it, or write {} for the defaults"
                                   % (source, name, name, _describe(given)))
            fields = {f.name: f for f in dataclasses.fields(section_type)}
            unknown = sorted(set(given) - set(fields))
            if unknown:
                raise Seq2SeqError("%s: unknown %s settings %s (written by another version?)"
                                   % (source, name, ", ".join(unknown)))
            sections[name] = section_type(**{
                key: _checked_value(value, fields[key], "%s: %s.%s" % (source, name, key))
                for key, value in given.items()})
        return cls(**sections)


#: The sections of a :class:`RunConfig`, by name.
SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


#: Named starting points; command-line flags override them.
PRESETS = {
    # Small enough to train on two CPU cores in the README's 20-minute budget.
    "default": {"train": {"max_minutes": 15.0}},
    # The original README's model: 22k vocabulary, 512 units, length 15.
    "paper": {"data": {"vocab_size": 22000},
              "model": {"embedding_size": 512, "hidden_size": 512},
              "train": {"epochs": 30}},
}


def preset(name):
    """Return the :class:`RunConfig` of a named preset.

    Parameters
    ----------
    name : str
        A key of :data:`PRESETS`.

    Returns
    -------
    RunConfig

    Examples
    --------
    >>> preset("paper").model.hidden_size
    512
    """
    if name not in PRESETS:
        raise Seq2SeqError("unknown preset %r: choose one of %s" % (name, ", ".join(PRESETS)))
    base = RunConfig().to_dict()
    for section, values in PRESETS[name].items():
        base[section].update(values)
    return RunConfig.from_dict(base)


def save_config(config, path):
    """Write ``config`` as JSON, atomically (:func:`lasagne_seq2seq.files.write_json`)."""
    write_json(config.to_dict(), path, indent=2, sort_keys=True)


def load_config(path):
    """Read a :class:`RunConfig` saved by :func:`save_config`."""
    try:
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
    except FileNotFoundError:
        raise Seq2SeqError("%s not found: is this a run directory written by bin/train.py?" % path)
    except ValueError as error:
        raise Seq2SeqError("%s is not valid JSON (%s): restore it or retrain" % (path, error))
    return RunConfig.from_dict(values, source=path).validate()
