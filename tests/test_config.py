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
