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
           "MODEL_NAMES", "OPTIMIZER_NAMES", "CELL_NAMES", "setting", "ATTENTION_SCORES",
           "NORM_STABILIZED",
           "EMBEDDING_INITS", "VOCAB_TYPES", "LR_SCHEDULES", "SECTIONS", "preset", "save_config", "load_config"]

#: The names of each kind of variant. Each kind has one registry, owned by the
#: package that defines the variants (``tests/test_config.py`` checks that the
#: names equal the registry's keys): models in
#: :data:`lasagne_seq2seq.models.registry.MODELS`, cells in
#: :data:`lasagne_seq2seq.nn.cells.CELLS`, optimisers in
#: :data:`lasagne_seq2seq.train.optimizers.OPTIMIZERS`.
MODEL_NAMES = ("v1", "v2", "simple", "lm", "attention")
CELL_NAMES = ("lstm", "gru", "jzs1", "jzs2", "jzs3", "irnn")
OPTIMIZER_NAMES = ("adam", "adadelta")
ATTENTION_SCORES = ("additive", "general")
NORM_STABILIZED = ("hidden", "logits", "both")
#: How vocabulary rows without a pretrained vector start (lasagne_seq2seq.data.embeddings).
EMBEDDING_INITS = ("random", "zero", "mean")
#: ``--vocab``: words (lasagne_seq2seq.data.vocab.Vocabulary), or the pieces of a
#: SentencePiece model of that type (SubwordVocabulary).
VOCAB_TYPES = ("word", "unigram", "bpe")
#: ``--lr-schedule``: how the learning rate falls over the run's budget
#: (lasagne_seq2seq.train.optimizers.scheduled_learning_rate).
LR_SCHEDULES = ("constant", "linear", "cosine")


def setting(default, help, choices=None, resumable=False, metavar=None):
    """A config field with what its command-line flag needs.

    Every field of the config dataclasses is a flag of the same name
    (``vocab_size`` is ``--vocab-size``; a boolean ``tie_embeddings`` is
    ``--tie-embeddings`` / ``--no-tie-embeddings``), made by
    :func:`lasagne_seq2seq.cli.add_flags`.

    Parameters
    ----------
    default
        The field's default value.
    help : str
        The flag's help text.
    choices : tuple of str, optional
        The allowed values, shown and checked by the flag.
    resumable : bool
        Whether ``bin/train.py --resume`` may change it (the schedule may;
        the data, model and optimiser may not).
    metavar : str, optional
        The value's name in ``--help``.

    Returns
    -------
    dataclasses.Field
    """
    return field(default=default, metadata={"help": help, "choices": choices,
                                            "resumable": resumable, "metavar": metavar})


@dataclass
class DataConfig:
    """Which corpus, and how it is tokenised, paired, split and capped."""
    corpus: str = setting("chitchat", "corpus name (chitchat, shakespeare) or path")
    format: str = setting("auto", "corpus format: auto, script, plain, cornell, tsv")
    encoding: str = setting("utf-8", "corpus text encoding (e.g. latin-1)")
    tokenizer: str = setting("default", "tokenizer: default, or classic (the original's)")
    pairing: str = setting("consecutive", "consecutive (overlapping) or alternate pairs")
    # The sentencepiece algorithms by name (one flag, not --vocab sentencepiece
    # plus a second flag for its type); words stay the reproduction's default.
    vocab: str = setting("word", "vocabulary: words, or subword pieces of a SentencePiece "
                         "unigram or BPE model trained on the training split",
                         choices=VOCAB_TYPES)
    vocab_size: int = setting(8000, "vocabulary size (words or pieces), the 4 special tokens "
                              "included")
    min_count: int = setting(1, "drop words seen fewer times (word vocabularies)")
    max_src_len: int = setting(15, "truncate questions to this many tokens (pieces with "
                               "--vocab unigram or bpe)")
    max_tgt_len: int = setting(15, "truncate replies to this many tokens (pieces with "
                               "--vocab unigram or bpe)")
    valid_fraction: float = setting(0.05, "share of the conversations held out for validation")
    test_fraction: float = setting(0.05, "share of the conversations held out for testing")
    max_pairs: Optional[int] = setting(None, "use only the first N training pairs")
    reverse_pairs: bool = setting(
        False, "swap questions and replies: a backward model p(S|T) for MMI-bidi reranking")


@dataclass
class ModelConfig:
    """The network: architecture, cell, sizes, depth, dropout."""
    model: str = setting("v1", "architecture", choices=MODEL_NAMES)
    cell: str = setting("lstm", "recurrent cell", choices=CELL_NAMES)
    embedding_size: int = setting(128, "word embedding size")
    hidden_size: int = setting(256, "recurrent units per layer")
    encoder_depth: int = setting(1, "encoder layers")
    decoder_depth: int = setting(1, "decoder layers")
    dropout: float = setting(0.0, "dropout between layers")
    reverse_source: bool = setting(True, "feed questions reversed (the original's trick)")
    share_embeddings: bool = setting(True, "one embedding for questions and replies")
    # Press & Wolf 2017: fewer parameters, a cheaper softmax layer, and words copy naturally.
    tie_embeddings: bool = setting(
        True, "the output layer is the transposed reply embeddings (--no-tie-embeddings: "
        "a separate output layer, the original's)")
    grad_clipping: float = setting(0.0, "per-step recurrent gradient clip (0: off)")
    # seed 004's broadcast_state and peek; None keeps what the architecture does.
    broadcast_state: Optional[bool] = setting(
        None, "start the decoder from the thought vector (default: by --model)")
    peek: Optional[bool] = setting(
        None, "feed the thought vector to every decoder step (default: by --model)")
    word_dropout: float = setting(
        0.0, "replace decoder input words by <unk> with this probability (training)")
    bidirectional: bool = setting(True, "attention model: a bidirectional encoder")
    attention_score: str = setting("additive", "attention score: additive (Bahdanau) or "
                                   "general (Luong)", choices=ATTENTION_SCORES)
    attention_size: int = setting(0, "additive attention units (0: the hidden size)")
    norm_stabilizer: float = setting(
        0.0, "norm-stabiliser factor beta (Krueger & Memisevic 2015; 0: off)")
    norm_stabilize: str = setting("hidden", "what the norm-stabiliser acts on",
                                  choices=NORM_STABILIZED)
    # seed 001's remember_state (lasagne_seq2seq.train.multiturn).
    remember_state: bool = setting(
        False, "multi-turn training: conversation-ordered batches, the encoder starting from "
        "its state after the previous exchange of the same conversation (decode with "
        "bin/test.py --interactive --remember)")
    devices: str = setting(
        "", "GPU placement GROUP=CONTEXT,... over embedding, encoder, decoder, output, e.g. "
        "encoder=dev0,decoder=dev1,output=dev1 with THEANO_FLAGS contexts=dev0->cuda0;"
        "dev1->cuda1 (ignored, with a notice, on the CPU)")


@dataclass
class TrainConfig:
    """Optimisation, schedule, checkpoints and warm starts."""
    optimizer: str = setting("adam", "optimiser", choices=OPTIMIZER_NAMES)
    learning_rate: Optional[float] = setting(
        None, "learning rate (left out in a preset: the optimiser's, adam 0.001, "
        "adadelta 1.0)")
    # A fixed budget (--max-minutes) is spent best by a rate that falls to
    # zero as the budget runs out; constant is the original's.
    lr_schedule: str = setting(
        "constant", "the learning rate over the run: constant, or falling to zero (linear, "
        "cosine) by the end of the budget, the first of --max-steps, --max-minutes (training "
        "time since the run began, resumes included) and --epochs to run out",
        choices=LR_SCHEDULES, resumable=True)
    warmup_steps: int = setting(0, "raise the learning rate linearly from zero over the first "
                                "N steps (0: off)", resumable=True)
    batch_size: int = setting(64, "pairs per batch")
    max_grad_norm: float = setting(5.0, "clip the total gradient norm (0: off)")
    # Jean et al. 2015; validation and decoding always use the full softmax.
    sampled_softmax: int = setting(
        0, "train with sampled softmax over K candidate words (0: the full softmax); "
        "validation and decoding use the full softmax")
    epochs: int = setting(20, "passes over the training pairs", resumable=True)
    max_minutes: float = setting(0.0, "stop when the run has trained this many minutes, resumes "
                                 "included (0: no limit)", resumable=True)
    max_steps: int = setting(0, "stop after this many updates (0: no limit)", resumable=True)
    validate_every: int = setting(500, "validate and checkpoint every N steps", resumable=True)
    sample_every: int = setting(1000, "print sample replies every N steps (0: never)",
                                resumable=True)
    patience: int = setting(5, "early stop after N validations without progress",
                            resumable=True)
    seed: int = setting(0, "random seed (data split, initialisation, shuffling)")
    buckets: int = setting(2, "number of length buckets")
    unroll: bool = setting(True, "unrolled loops (--no-unroll: theano.scan, slower, any length)")
    embeddings: Optional[str] = setting(
        None, "initialise embeddings from vectors: a file, or 'word2vec' to train them on "
        "the corpus")
    # Pickled vectors (gensim KeyedVectors .kv) run any code they hold when
    # loaded: refused unless the user vouches for the file.
    trust_pickle: bool = setting(
        False, "let --embeddings load a pickle (gensim KeyedVectors .kv); loading one runs "
        "any code it holds: only for files you made")
    embeddings_init: str = setting(
        "random", "how vocabulary rows without a vector start: random (normal noise with the "
        "vectors' spread), zero, or mean (the mean vector); <pad> is always zero",
        choices=EMBEDDING_INITS)
    freeze_embeddings: bool = setting(False, "keep the embeddings fixed")
    init_encoder: Optional[str] = setting(None, "warm start: copy the encoder of this run dir",
                                          metavar="RUN_DIR")
    freeze_encoder_epochs: int = setting(
        0, "keep the warm-started encoder fixed for this many epochs")


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
            (m.model in MODEL_NAMES, "--model must be one of %s" % ", ".join(MODEL_NAMES)),
            (t.optimizer in OPTIMIZER_NAMES,
             "--optimizer must be one of %s" % ", ".join(OPTIMIZER_NAMES)),
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
            (t.batch_size > 0, "--batch-size must be positive"),
            (t.lr_schedule in LR_SCHEDULES,
             "--lr-schedule must be one of %s" % ", ".join(LR_SCHEDULES)),
            (t.warmup_steps >= 0, "--warmup-steps must be >= 0, 0 is off (got %s)"
             % t.warmup_steps),
            (t.learning_rate is None or t.learning_rate > 0,
             "--learning-rate must be positive (or left out: the optimiser's default)"),
            (d.vocab_size > 4, "--vocab-size must leave room for the 4 special tokens"),
            (d.vocab in VOCAB_TYPES, "--vocab must be one of %s" % ", ".join(VOCAB_TYPES)),
            (d.vocab == "word" or not t.embeddings,
             "--embeddings gives word vectors, which fit no subword piece: drop --embeddings, "
             "or train with --vocab word"),
            (d.max_src_len > 0 and d.max_tgt_len > 0,
             "--max-src-len and --max-tgt-len must be positive"),
            (t.buckets > 0, "--buckets must be at least 1"),
            (t.embeddings_init in EMBEDDING_INITS,
             "--embeddings-init must be one of %s" % ", ".join(EMBEDDING_INITS)),
            (0 <= t.sampled_softmax < d.vocab_size,
             "--sampled-softmax must be between 0 (off) and the vocabulary size"),
            (0 <= t.seed < 2 ** 32, "--seed must be in [0, 2**32) (got %s)" % t.seed),
            (t.epochs >= 1, "--epochs must be at least 1 (got %s)" % t.epochs),
            (t.max_steps >= 0, "--max-steps must be >= 0, 0 is no limit (got %s)" % t.max_steps),
            (t.max_minutes >= 0, "--max-minutes must be >= 0, 0 is no limit (got %s)"
             % t.max_minutes),
            (t.patience >= 0, "--patience must be >= 0, 0 is off (got %s)" % t.patience),
            (t.validate_every >= 0, "--validate-every must be >= 0, 0 is never (got %s)"
             % t.validate_every),
            (t.sample_every >= 0, "--sample-every must be >= 0, 0 is never (got %s)"
             % t.sample_every),
            (t.max_grad_norm >= 0, "--max-grad-norm must be >= 0, 0 is off (got %s)"
             % t.max_grad_norm),
            (m.grad_clipping >= 0, "--grad-clipping must be >= 0, 0 is off (got %s)"
             % m.grad_clipping),
            (t.freeze_encoder_epochs >= 0, "--freeze-encoder-epochs must be >= 0 (got %s)"
             % t.freeze_encoder_epochs),
            (d.max_pairs is None or d.max_pairs >= 1,
             "--max-pairs must be at least 1, or left out for all pairs (got %s)" % d.max_pairs),
            (d.min_count >= 1, "--min-count must be at least 1 (got %s)" % d.min_count),
            (0 <= d.valid_fraction < 1 and 0 <= d.test_fraction < 1
             and d.valid_fraction + d.test_fraction < 1,
             "--valid-fraction and --test-fraction must be in [0, 1) and leave pairs to train on"),
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
    # The main job: chosen by 15-minute runs on two CPU cores (docs/results.md,
    # "Choosing the defaults"; bench/compare_models.py --study defaults).
    # Validation takes about 2 s whatever the batch: every 32,000 pairs.
    "default": {"model": {"dropout": 0.2},
                "train": {"max_minutes": 15.0, "lr_schedule": "linear",
                          "learning_rate": 0.003, "batch_size": 16, "validate_every": 2000}},
    # The reproduction's v1 as the original built it (a separate output
    # layer, words, a constant learning rate) in the default preset's budget.
    "original": {"data": {"vocab": "word"},
                 "model": {"model": "v1", "tie_embeddings": False, "dropout": 0.0},
                 "train": {"max_minutes": 15.0, "lr_schedule": "constant",
                           "learning_rate": None}},
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
