"""The typed run config: presets, validation, JSON round trip, clear errors."""
import json

import pytest

from lasagne_seq2seq.config import RunConfig, load_config, preset, save_config
from lasagne_seq2seq.errors import Seq2SeqError


def test_presets_differ_where_documented():
    default, paper = preset("default"), preset("paper")
    assert (paper.data.vocab_size, paper.model.hidden_size) == (22000, 512)
    assert paper.data.max_src_len == paper.data.max_tgt_len == 15
    assert default.train.max_minutes > 0 and default.model.hidden_size < 512


def differences(a, b):
    """``{section.field: (a's value, b's value)}`` where two configs differ."""
    a, b = a.to_dict(), b.to_dict()
    return {"%s.%s" % (section, key): (a[section][key], b[section][key])
            for section in a for key in a[section] if a[section][key] != b[section][key]}


def test_the_original_preset_is_the_default_job_as_the_original_built_it():
    original, default = preset("original"), preset("default")
    assert (original.model.model, original.data.vocab, original.train.lr_schedule) == (
        "v1", "word", "constant")
    assert not original.model.tie_embeddings and original.train.learning_rate is None
    # The same data, sizes and budget: only the measured choices differ.
    assert original.train.max_minutes == default.train.max_minutes == 15.0
    assert set(differences(original, default)) <= {
        "model.tie_embeddings", "model.dropout", "model.model", "data.vocab",
        "train.lr_schedule", "train.learning_rate", "train.warmup_steps", "train.batch_size",
        "train.validate_every"}


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(Seq2SeqError, match="choose one of"):
        preset("huge")


def test_config_round_trips_through_json(tmp_path):
    config = preset("paper")
    config.model.model, config.train.embeddings = "v2", "word2vec"
    path = str(tmp_path / "config.json")
    save_config(config, path)
    assert load_config(path) == config
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("section, field, value, message", [
    ("model", "model", "v3", "--model"),
    ("model", "dropout", 1.0, "--dropout"),
    ("train", "optimizer", "sgd", "--optimizer"),
    ("data", "vocab_size", 4, "--vocab-size"),
])
def test_invalid_values_are_rejected(section, field, value, message):
    config = RunConfig()
    setattr(getattr(config, section), field, value)
    with pytest.raises(Seq2SeqError, match=message):
        config.validate()


def test_broken_config_files_name_the_file(tmp_path):
    path = tmp_path / "config.json"
    with pytest.raises(Seq2SeqError, match="not found"):
        load_config(str(path))
    path.write_text("{not json")
    with pytest.raises(Seq2SeqError, match="not valid JSON"):
        load_config(str(path))
    path.write_text(json.dumps({"model": {"hidden": 3}}))
    with pytest.raises(Seq2SeqError, match="unknown model settings hidden"):
        load_config(str(path))


@pytest.mark.parametrize("values, message", [
    ([], r"must hold a JSON object with data, model and train sections, not an array"),
    ({"modle": {}}, r"unknown sections modle"),
    ({"model": None}, r"'model' must be an object of model settings, not null: .* write \{\}"),
    ({"train": [1]}, r"'train' must be an object of train settings, not an array \[1\]"),
    ({"model": {"hidden_size": "256"}},
     r'model.hidden_size must be an integer, not the string "256": write e.g. 256 \(the default\)'),
    ({"model": {"hidden_size": 256.5}}, r"model.hidden_size must be an integer, not the number"),
    ({"model": {"hidden_size": True}}, r"model.hidden_size must be an integer, not the boolean"),
    ({"model": {"dropout": "0.1"}}, r"model.dropout must be a finite number"),
    ({"train": {"learning_rate": float("nan")}}, r"train.learning_rate must be a finite number"),
    ({"model": {"reverse_source": 1}}, r"model.reverse_source must be true or false, not the "
                                       r"number 1: write e.g. true"),
    ({"model": {"peek": "yes"}}, r"model.peek must be true, false or null"),
    ({"data": {"corpus": None}}, r'data.corpus must be a string, not null: write e.g. "chitchat"'),
    ({"data": {"max_pairs": "10"}}, r"data.max_pairs must be an integer or null"),
])
def test_wrong_types_name_the_file_the_field_and_the_fix(tmp_path, values, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    with pytest.raises(Seq2SeqError, match=message) as error:
        load_config(str(path))
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_numbers_for_float_fields_and_nulls_for_optional_ones_are_accepted(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"train": {"learning_rate": 1, "embeddings": None},
                                "data": {"max_pairs": None}, "model": {"peek": False}}))
    config = load_config(str(path))
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)
    assert (config.train.embeddings, config.data.max_pairs, config.model.peek) == (None, None, False)


def test_config_names_are_the_registries_keys():
    from lasagne_seq2seq.config import CELL_NAMES, MODEL_NAMES, OPTIMIZER_NAMES
    from lasagne_seq2seq.decode.decoder import STRATEGIES
    from lasagne_seq2seq.decode.options import STRATEGY_NAMES
    from lasagne_seq2seq.models.registry import MODELS
    from lasagne_seq2seq.nn.cells import CELLS
    from lasagne_seq2seq.train.optimizers import OPTIMIZERS
    assert list(MODEL_NAMES) == list(MODELS)
    assert list(CELL_NAMES) == list(CELLS)
    assert list(OPTIMIZER_NAMES) == list(OPTIMIZERS)
    assert list(STRATEGY_NAMES) == list(STRATEGIES)


@pytest.mark.parametrize("optimizer, expected", [("adam", 0.001), ("adadelta", 1.0)])
def test_each_optimizer_trains_at_its_own_default_learning_rate(optimizer, expected):
    # The default used to be 0.001 for every optimiser: adadelta trained at
    # a thousandth of the rate --help promised.
    from lasagne_seq2seq.train.optimizers import learning_rate_of
    config = RunConfig()
    config.train.optimizer = optimizer
    assert learning_rate_of(config.validate().train) == expected
    config.train.learning_rate = 0.25
    assert learning_rate_of(config.train) == 0.25
