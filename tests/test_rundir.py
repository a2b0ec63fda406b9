"""Run directories never lose a loadable run: --overwrite swaps the new run in
at its first checkpoint, --resume falls back to best.npz and leaves config.json
alone when it fails, best.npz is written before last.npz records it, killed
runs' leftovers are removed, and a checkpoint refuses another vocabulary."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.data.vocab import Vocabulary
from lasagne_seq2seq.decode.decoder import load_decoder
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.models.registry import load_model
from lasagne_seq2seq.rundir import RunDir, load_checkpoint, save_checkpoint, vocab_fingerprint
from lasagne_seq2seq.serve.export import export_model
from lasagne_seq2seq.train import trainer as training
from lasagne_seq2seq.train.run import train_run


class Killed(BaseException):
    """Stands for a ``kill -9``: nothing of the package catches it."""


def quiet(line):
    """A log function that prints nothing."""


def write_corpus(path, prefix, seed):
    """160 question-reply pairs of 3 words (40 distinct) and their reversal."""
    rng = np.random.RandomState(seed)
    words = ["%s%02d" % (prefix, i) for i in range(40)]
    rows = [" ".join(rng.choice(words, 3)) for _ in range(160)]
    path.write_text("".join("%s\t%s\n" % (row, " ".join(row.split()[::-1])) for row in rows))
    return str(path)


def tiny_config(corpus, **train):
    """A config that trains in seconds: 16 hidden units, 4 steps, validation every 2."""
    config = RunConfig()
    config.data.corpus, config.data.format, config.data.tokenizer = corpus, "tsv", "classic"
    config.data.vocab_size, config.data.max_src_len, config.data.max_tgt_len = 60, 4, 4
    config.data.valid_fraction, config.data.test_fraction = 0.1, 0.0
    config.model.model, config.model.embedding_size, config.model.hidden_size = "v1", 8, 16
    config.train.batch_size, config.train.buckets, config.train.sample_every = 16, 1, 0
    config.train.validate_every, config.train.max_steps, config.train.epochs = 2, 4, 5
    for name, value in train.items():
        setattr(config.train, name, value)
    return config


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpora")
    return write_corpus(folder / "a.tsv", "a", 0), write_corpus(folder / "b.tsv", "b", 1)


@pytest.fixture(scope="module")
def trained(corpora, tmp_path_factory):
    """A run on corpus a: 4 steps, best.npz and last.npz."""
    run_dir = str(tmp_path_factory.mktemp("runs") / "a")
    train_run(tiny_config(corpora[0]), run_dir, progress_bar=False, log=quiet)
    return run_dir


@pytest.fixture
def run_dir(trained, tmp_path):
    """A copy of the trained run that a test may damage."""
    return shutil.copytree(trained, str(tmp_path / "run"))


def snapshot(run_dir):
    return {name: Path(run_dir, name).read_bytes() for name in sorted(os.listdir(run_dir))}


def siblings(run_dir):
    """Whatever lies beside the run directory (staging folders)."""
    return sorted(set(os.listdir(os.path.dirname(run_dir))) - {os.path.basename(run_dir)})


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


# ------------------------------------------------------------------ item 6
@pytest.mark.parametrize("failure", ["kill", "nan"])
def test_overwrite_that_fails_before_its_first_checkpoint_keeps_the_old_run(
        run_dir, corpora, monkeypatch, failure):
    before = snapshot(run_dir)

    def fail(self, function, batch):
        if failure == "kill":
            raise Killed()
        return float("nan"), 1.0
    monkeypatch.setattr(training.Trainer, "_run_step", fail)
    with pytest.raises(Killed if failure == "kill" else Seq2SeqError):
        train_run(tiny_config(corpora[1]), run_dir, overwrite=True, progress_bar=False,
                  log=quiet)
    assert snapshot(run_dir) == before
    config, vocab, net = load_model(run_dir)
    assert config.data.corpus == corpora[0] and vocab.tokens[4].startswith("a")
    assert siblings(run_dir) == []


def test_overwrite_replaces_the_whole_run_at_its_first_checkpoint(run_dir, corpora):
    # Without a validation split the new run writes no best.npz: the old
    # one must not stay behind to be loaded with the new vocabulary.
    config = tiny_config(corpora[1])
    config.data.valid_fraction = 0.0
    train_run(config, run_dir, overwrite=True, progress_bar=False, log=quiet)
    assert sorted(os.listdir(run_dir)) == ["config.json", "curve.png", "history.json",
                                           "last.npz", "vocab.json"]
    config, vocab, net = load_model(run_dir)
    assert config.data.corpus == corpora[1] and vocab.tokens[4].startswith("b")
    assert siblings(run_dir) == []


def test_ctrl_c_during_an_overwrite_saves_the_new_run_in_place(run_dir, corpora, monkeypatch):
    def interrupt(self, function, batch):
        raise KeyboardInterrupt
    monkeypatch.setattr(training.Trainer, "_run_step", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(corpora[1]), run_dir, overwrite=True, progress_bar=False,
                  log=quiet)
    assert "best.npz" not in os.listdir(run_dir) and siblings(run_dir) == []
    assert load_model(run_dir)[1].tokens[4].startswith("b")


def test_training_removes_what_killed_runs_left(run_dir, corpora):
    pid = dead_pid()
    staging = "%s.new-%d" % (run_dir, pid)
    os.makedirs(staging)
    Path(staging, "config.json").write_text("{}")
    partial = Path(run_dir, "last.npz.partial-%d.npz" % pid)
    partial.write_bytes(b"\0" * 1000)
    logged = []
    train_run(tiny_config(corpora[0], max_steps=6), run_dir, resume=True, progress_bar=False,
              log=logged.append)
    assert not partial.exists() and siblings(run_dir) == []
    assert "removed %s, left by a killed run" % os.path.basename(staging) in logged


def test_a_swap_killed_halfway_is_repaired(run_dir, tmp_path):
    # Without an atomic exchange a swap is two renames: killed between them,
    # the run directory is missing and the complete replacement is restored.
    pid = dead_pid()
    new, old = "%s.new-%d" % (run_dir, pid), "%s.old-%d" % (run_dir, pid)
    shutil.copytree(run_dir, new)
    os.rename(run_dir, old)
    RunDir(run_dir).clean()
    assert siblings(run_dir) == [] and load_model(run_dir)


# ------------------------------------------------------------------ item 7
def test_a_failed_resume_leaves_config_json_alone(run_dir, corpora):
    os.remove(RunDir(run_dir).checkpoint("best"))
    last = Path(RunDir(run_dir).checkpoint("last"))
    last.write_bytes(last.read_bytes()[:1000])
    config_before = Path(RunDir(run_dir).config).read_bytes()
    with pytest.raises(Seq2SeqError, match="truncated or corrupt"):
        train_run(tiny_config(corpora[0], max_steps=6), run_dir, resume=True,
                  progress_bar=False, log=quiet)
    assert Path(RunDir(run_dir).config).read_bytes() == config_before


def test_resume_falls_back_to_best_when_last_is_corrupt(run_dir, corpora):
    run = RunDir(run_dir)
    best_step = load_checkpoint(run.checkpoint("best"))["progress"]["step"]
    last = Path(run.checkpoint("last"))
    last.write_bytes(last.read_bytes()[:1000])
    logged = []
    train_run(tiny_config(corpora[0], max_steps=6), run_dir, resume=True, progress_bar=False,
              log=logged.append)
    warnings = [line for line in logged if line.startswith("warning:")]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "resuming from %s (step %d) instead of %s" % (run.checkpoint("best"), best_step,
                                                          run.checkpoint("last")) in warnings[0]
    assert load_checkpoint(run.checkpoint("last"))["progress"]["step"] == 6


def test_best_is_written_before_last_records_it(corpora, tmp_path, monkeypatch):
    # Killed at the second checkpoint write of the first validation: whatever
    # is on disk, last.npz's best step is the one best.npz holds.
    original, calls = training.save_checkpoint, []

    def killed_on_second_write(path, *args, **kwargs):
        calls.append(os.path.basename(path))
        if len(calls) == 2:
            raise Killed()
        return original(path, *args, **kwargs)
    monkeypatch.setattr(training, "save_checkpoint", killed_on_second_write)
    run = RunDir(str(tmp_path / "run"))
    with pytest.raises(Killed):
        train_run(tiny_config(corpora[0]), run.path, progress_bar=False, log=quiet)
    assert calls == ["best.npz", "last.npz"]
    if os.path.exists(run.checkpoint("last")):
        recorded = load_checkpoint(run.checkpoint("last"))["progress"]["best_step"]
        assert load_checkpoint(run.checkpoint("best"))["progress"]["step"] == recorded


def test_checkpoint_writes_are_fsynced_file_and_folder(tmp_path, monkeypatch):
    synced, original = [], os.fsync

    def record(handle):
        synced.append(os.fstat(handle).st_ino)
        return original(handle)
    monkeypatch.setattr(os, "fsync", record)
    path = tmp_path / "last.npz"
    save_checkpoint(str(path), {"W": np.zeros(3, "float32")})
    assert os.stat(path).st_ino in synced and os.stat(tmp_path).st_ino in synced


# ------------------------------------------------------------------ item 8
def swap_two_words(run_dir):
    path = RunDir(run_dir).vocab
    tokens = Vocabulary.load(path).tokens
    tokens[4], tokens[5] = tokens[5], tokens[4]
    Vocabulary(tokens).save(path)
    return path


def test_checkpoints_record_their_vocabulary(trained):
    run = RunDir(trained)
    fingerprint = vocab_fingerprint(run.load_vocab())
    for which in ("best", "last"):
        assert load_checkpoint(run.checkpoint(which))["vocab_sha256"] == fingerprint


def test_a_reordered_vocabulary_is_refused_everywhere(run_dir, corpora, tmp_path):
    vocab_path = swap_two_words(run_dir)
    best = RunDir(run_dir).checkpoint("best")
    loaders = [lambda: load_model(run_dir), lambda: load_decoder(run_dir),
               lambda: export_model(run_dir, str(tmp_path / "chatbot.npz")),
               lambda: train_run(tiny_config(corpora[0], max_steps=6), run_dir, resume=True,
                                 progress_bar=False, log=quiet)]
    for load in loaders:
        with pytest.raises(Seq2SeqError) as error:
            load()
        message = str(error.value)
        assert "\n" not in message and vocab_path in message, message
        assert best in message or RunDir(run_dir).checkpoint("last") in message, message
        assert "another vocabulary" in message
    assert not (tmp_path / "chatbot.npz").exists()


def test_a_checkpoint_without_a_fingerprint_is_accepted(run_dir):
    # Checkpoints from before fingerprints: only the shapes can be checked.
    run = RunDir(run_dir)
    for which in ("best", "last"):
        params = load_checkpoint(run.checkpoint(which))["params"]
        save_checkpoint(run.checkpoint(which), params)
    swap_two_words(run_dir)
    assert load_model(run_dir)[1] == run.load_vocab()
