"""Frozen models: exported files decode like their run, hold no training state,
and a truncated, tampered, pickled or foreign file is refused in one line."""
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.rundir import RunDir, save_checkpoint
from lasagne_seq2seq.models.registry import load_model
from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.decode.decoder import Decoder
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.serve.export import VERSION, export_model, load_exported, load_inference_model
from lasagne_seq2seq.models.registry import build_network
from lasagne_seq2seq.data.vocab import Vocabulary

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ["a b c", "hello there", "c a"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An untrained but complete run: config, vocabulary, best.npz with optimiser state."""
    config = RunConfig()
    config.model.embedding_size, config.model.hidden_size, config.model.model = 16, 16, "v2"
    vocab = Vocabulary.build([q.split() for q in QUESTIONS], max_size=20)
    net = build_network(config.model, len(vocab))
    run = RunDir(str(tmp_path_factory.mktemp("runs") / "tiny"))
    run.create(config, vocab)
    save_checkpoint(run.checkpoint("best"), net.param_values(),
                    optimizer_state=[np.ones(7, "float32")], rng_state={"any/00000": np.arange(3)},
                    progress={"step": 12})
    return run.path


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "tiny.npz")
    export_model(run_dir, path)
    return path


def rewrite(source, target, edit):
    """Copy an exported file through ``edit(header, arrays)`` as a valid zip."""
    with np.load(source) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("header")))
    edit(header, arrays)
    np.savez(target, header=np.array(json.dumps(header)), **arrays)
    return str(target)


def test_export_holds_parameters_vocab_and_config_but_no_training_state(run_dir, exported):
    with zipfile.ZipFile(exported) as archive:
        names = {name[:-len(".npy")] for name in archive.namelist()}
    config, vocab, net = load_model(run_dir)
    assert names == {"header"} | {"param/%s" % name for name in net.param_values()}
    loaded_config, loaded_vocab, loaded_net = load_exported(exported)
    assert loaded_config == config and loaded_vocab == vocab
    for name, value in net.param_values().items():
        np.testing.assert_array_equal(loaded_net.param_values()[name], value)


def test_exported_model_decodes_exactly_like_its_run(run_dir, exported):
    config, vocab, net = load_model(run_dir)
    expected = Decoder(net, vocab, config).reply(QUESTIONS)
    config, vocab, net = load_inference_model(exported)
    replies = Decoder(net, vocab, config).reply(QUESTIONS)
    assert [(r.text, r.log_prob) for r in replies] == [(r.text, r.log_prob) for r in expected]


def test_loading_an_export_imports_no_training_code(exported):
    code = ("import sys; from lasagne_seq2seq.serve.export import load_exported; "
            "load_exported(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.startswith('lasagne_seq2seq')))")
    result = subprocess.run([sys.executable, "-c", code, exported], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "lasagne_seq2seq.models" in result.stdout
    assert "lasagne_seq2seq.train" not in result.stdout


def assert_refused(path, *words):
    with pytest.raises(Seq2SeqError) as error:
        load_exported(path)
    message = str(error.value)
    assert "\n" not in message and path in message
    for word in words:
        assert word in message, message


def test_truncated_file_is_refused(exported, tmp_path):
    data = Path(exported).read_bytes()
    for size in (len(data) // 2, len(data) - 30, 10):
        target = tmp_path / ("cut%d.npz" % size)
        target.write_bytes(data[:size])
        assert_refused(str(target), "truncated", "bin/export.py")


def test_flipped_byte_is_refused(exported, tmp_path):
    data = bytearray(Path(exported).read_bytes())
    data[len(data) // 3] ^= 0xFF
    target = tmp_path / "flipped.npz"
    target.write_bytes(bytes(data))
    assert_refused(str(target), "bin/export.py")


def test_changed_parameter_fails_the_checksum(exported, tmp_path):
    def nudge(header, arrays):
        name = "param/" + header["params"][0]
        arrays[name] = arrays[name] + np.float32(1e-3)
    assert_refused(rewrite(exported, tmp_path / "nudged.npz", nudge), "SHA-256")


def test_changed_config_or_vocabulary_fails_the_checksum(exported, tmp_path):
    def swap_words(header, arrays):
        header["vocab"][4], header["vocab"][5] = header["vocab"][5], header["vocab"][4]

    def other_tokenizer(header, arrays):
        header["config"]["data"]["tokenizer"] = "classic"
    assert_refused(rewrite(exported, tmp_path / "words.npz", swap_words), "SHA-256")
    assert_refused(rewrite(exported, tmp_path / "config.npz", other_tokenizer), "SHA-256")


def test_other_format_version_is_refused(exported, tmp_path):
    def bump(header, arrays):
        header["version"] = VERSION + 1
    assert_refused(rewrite(exported, tmp_path / "v2.npz", bump), "version", "export it again")


def test_checkpoint_or_random_npz_is_not_an_export(run_dir, tmp_path):
    assert_refused(RunDir(run_dir).checkpoint("best"), "not a file written by bin/export.py")
    np.savez(tmp_path / "random.npz", x=np.zeros(3))
    assert_refused(str(tmp_path / "random.npz"), "not a file written by bin/export.py")
    assert_refused(str(tmp_path / "missing.npz"), "not found", "bin/export.py")


class Trap(object):
    """Unpickling this would create ``marker``: proof that pickles never run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_objects_are_never_loaded(exported, tmp_path):
    marker = tmp_path / "pickle-ran"
    trap = np.empty(1, dtype=object)
    trap[0] = Trap(str(marker))
    pickle.dumps(trap)  # the payload really is picklable

    def plant(header, arrays):
        arrays["param/" + header["params"][0]] = trap
    target = rewrite(exported, tmp_path / "trap.npz", plant)
    assert_refused(target, "bin/export.py")
    assert not marker.exists()


def test_export_script(run_dir, tmp_path):
    out = tmp_path / "cli.npz"
    result = subprocess.run([sys.executable, str(ROOT / "bin" / "export.py"), run_dir, str(out),
                             "--checkpoint", "best"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "sha256" in result.stdout and out.exists()
    result = subprocess.run([sys.executable, str(ROOT / "bin" / "export.py"),
                             str(tmp_path / "no-run"), str(out)], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2 and result.stderr.startswith("error: run directory")


def test_export_never_writes_into_a_run_directory(run_dir, tmp_path):
    run = shutil.copytree(run_dir, str(tmp_path / "run"))
    before = {name: (Path(run) / name).read_bytes() for name in os.listdir(run)}
    for out in ("best.npz", "last.npz", "config.json", "vocab.json", "chatbot.npz"):
        path = os.path.join(run, out)
        with pytest.raises(Seq2SeqError) as error:
            export_model(run, path)
        message = str(error.value)
        assert "\n" not in message and path in message and "export outside it" in message
    assert {name: (Path(run) / name).read_bytes() for name in os.listdir(run)} == before


def test_export_to_a_missing_folder_or_onto_a_folder_is_one_line(run_dir, tmp_path):
    for out, words in ((tmp_path / "missing" / "x.npz", "does not exist: create it"),
                       (tmp_path, "is a folder: name the file")):
        result = subprocess.run([sys.executable, str(ROOT / "bin" / "export.py"), run_dir,
                                 str(out)], capture_output=True, text=True, timeout=120,
                                cwd=ROOT)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert str(out) in result.stderr and words in result.stderr
    assert not (tmp_path / "missing").exists()
