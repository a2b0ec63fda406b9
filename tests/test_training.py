"""Training: the models learn the original's toy tasks; runs resume exactly;
failures (NaN, Ctrl-C, corrupt checkpoints) are handled without losing work."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.rundir import RunDir, load_checkpoint
from lasagne_seq2seq.models.registry import load_model
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.train.run import train_run
from lasagne_seq2seq.data.toy import toy_words
from toy import held_out_exact_match, quiet, toy_config, toy_path


def test_v1_learns_to_reverse_unseen_phrases(v1_reverse):
    assert held_out_exact_match(v1_reverse, "reversed_phrases") >= 0.9


def test_v2_warm_started_from_v1_learns_to_reverse(v1_reverse, tmp_path):
    config = toy_config("reversed_phrases", model="v2", init_encoder=v1_reverse,
                        freeze_encoder_epochs=1, epochs=2)
    run_dir = str(tmp_path / "v2")
    train_run(config, run_dir, progress_bar=False, log=quiet)
    assert held_out_exact_match(run_dir, "reversed_phrases") >= 0.9


def test_v1_learns_to_repeat_unseen_phrases(tmp_path):
    run_dir = str(tmp_path / "v1-repeat")
    train_run(toy_config("repeated_phrases"), run_dir, progress_bar=False, log=quiet)
    assert held_out_exact_match(run_dir, "repeated_phrases") >= 0.9


def test_a_model_that_ignores_its_encoder_cannot_reverse(tmp_path):
    run_dir = str(tmp_path / "lm")
    train_run(toy_config("reversed_phrases", model="lm", epochs=2), run_dir,
              progress_bar=False, log=quiet)
    assert held_out_exact_match(run_dir, "reversed_phrases") < 0.1


def small_config(**train):
    config = toy_config("reversed_phrases", validate_every=5, **train)
    config.data.max_pairs = 300
    config.model.hidden_size, config.model.embedding_size, config.model.dropout = 16, 8, 0.3
    return config


def assert_same_parameters_after_10_steps(straight, resumed):
    a = load_checkpoint(RunDir(straight).checkpoint("last"))
    b = load_checkpoint(RunDir(resumed).checkpoint("last"))
    assert a["progress"]["step"] == b["progress"]["step"] == 10
    for name, value in a["params"].items():
        np.testing.assert_allclose(b["params"][name], value, rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_resume_continues_exactly_where_training_stopped(tmp_path):
    straight = str(tmp_path / "straight")
    train_run(small_config(max_steps=10), straight, progress_bar=False, log=quiet)
    halves = str(tmp_path / "halves")
    train_run(small_config(max_steps=6), halves, progress_bar=False, log=quiet)
    resumed = small_config(max_steps=10)
    train_run(resumed, halves, resume=True, progress_bar=False, log=quiet)
    assert_same_parameters_after_10_steps(straight, halves)


def test_max_minutes_counts_the_whole_run_resumes_included(tmp_path):
    """A run resumed with a --max-minutes it has already spent stops before
    its first step, as the schedule, which counts the same time, has run out."""
    run_dir = str(tmp_path / "run")
    train_run(small_config(max_steps=4), run_dir, progress_bar=False, log=quiet)
    spent = load_checkpoint(RunDir(run_dir).checkpoint("last"))["progress"]["elapsed_seconds"]
    assert spent > 0
    train_run(small_config(max_steps=100, max_minutes=spent / 60), run_dir, resume=True,
              progress_bar=False, log=quiet)
    progress = load_checkpoint(RunDir(run_dir).checkpoint("last"))["progress"]
    assert progress["step"] == 4
    assert progress["stop_reason"].startswith("reached --max-minutes")
    assert "resume with a larger --max-minutes" in progress["stop_reason"]
    assert progress["tokens_per_second"] > 0  # the run's own speed, not this session's none


def chat_lines(path, count, seed=0):
    """Write ``count`` lines of 1 to 12 toy words, one utterance a line
    (the original's movie-lines format), and return ``path``."""
    rng, words = np.random.RandomState(seed), toy_words(150)
    path.write_text("".join(" ".join(rng.choice(words, rng.randint(1, 13))) + "\n"
                            for _ in range(count)))
    return path


def test_resume_with_two_buckets_and_dropout_continues_exactly(tmp_path):
    # Each bucket's graph draws dropout streams of its own: all of them are
    # saved by shape and restored when the resumed run compiles that shape.
    def config(max_steps):
        config = small_config(max_steps=max_steps)
        config.data.corpus = str(chat_lines(tmp_path / "lines.txt", 250))
        config.data.pairing, config.data.max_pairs, config.data.vocab_size = "consecutive", 200, 300
        config.data.max_src_len = config.data.max_tgt_len = 8
        config.train.buckets, config.train.batch_size = 2, 8
        return config
    straight, halves = str(tmp_path / "straight"), str(tmp_path / "halves")
    train_run(config(10), straight, progress_bar=False, log=quiet)
    train_run(config(4), halves, progress_bar=False, log=quiet)
    assert {name.split("/")[0] for name in load_checkpoint(
        RunDir(halves).checkpoint("last"))["rng"]} == {"4x5", "8x9"}
    train_run(config(10), halves, resume=True, progress_bar=False, log=quiet)
    assert_same_parameters_after_10_steps(straight, halves)


def test_the_learning_rate_follows_its_schedule_and_resumes_exactly(tmp_path, monkeypatch):
    from lasagne_seq2seq.train import trainer as training
    config = small_config(max_steps=10, lr_schedule="linear", warmup_steps=2,
                          learning_rate=0.01)
    straight = str(tmp_path / "straight")
    train_run(config, straight, progress_bar=False, log=quiet)
    with open(RunDir(straight).history) as handle:
        rates = {record["step"]: record["learning_rate"] for record in json.load(handle)}
    # The rate of step 5 (4 done before it) and of step 10 (9 done): linear
    # decay over the 10-step budget, the warm-up long over.
    assert rates[5] == pytest.approx(0.01 * (1 - 4 / 10), rel=1e-6)
    assert rates[10] == pytest.approx(0.01 * (1 - 9 / 10), rel=1e-6)
    # Interrupted at step 5 and resumed with the same budget: the same rates,
    # so the same parameters as the straight run.
    original = training.Trainer._checkpoint_validation

    def interrupt_at_step_5(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.progress["step"] == 5:
            raise KeyboardInterrupt
    halves = str(tmp_path / "halves")
    with monkeypatch.context() as patch:
        patch.setattr(training.Trainer, "_checkpoint_validation", interrupt_at_step_5)
        with pytest.raises(KeyboardInterrupt):
            train_run(config, halves, progress_bar=False, log=quiet)
    train_run(config, halves, resume=True, progress_bar=False, log=quiet)
    assert_same_parameters_after_10_steps(straight, halves)


def test_an_existing_run_is_not_overwritten_by_accident(tmp_path):
    run_dir = str(tmp_path / "run")
    train_run(small_config(max_steps=2), run_dir, progress_bar=False, log=quiet)
    with pytest.raises(Seq2SeqError, match="--resume"):
        train_run(small_config(max_steps=2), run_dir, progress_bar=False, log=quiet)


def test_ctrl_c_saves_the_last_checkpoint(tmp_path, monkeypatch):
    from lasagne_seq2seq.train import trainer as training
    run_dir = str(tmp_path / "interrupted")
    original = training.Trainer._checkpoint_validation
    calls = []

    def interrupt_on_second_validation(self, *args, **kwargs):
        calls.append(self.progress["step"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)
    monkeypatch.setattr(training.Trainer, "_checkpoint_validation",
                        interrupt_on_second_validation)
    with pytest.raises(KeyboardInterrupt):
        train_run(small_config(max_steps=50), run_dir, progress_bar=False, log=quiet)
    saved = load_checkpoint(RunDir(run_dir).checkpoint("last"))
    assert saved["progress"]["step"] == calls[-1] == 10
    assert not [name for name in os.listdir(run_dir) if ".tmp" in name]


def test_a_nan_loss_stops_with_a_clear_error(tmp_path, monkeypatch):
    from lasagne_seq2seq.models import seq2seq as models
    from lasagne_seq2seq.train import trainer as training
    run_dir = str(tmp_path / "nan")
    # After the first validation (step 5) wrote last.npz: that is the last good state.
    original_step = training.Trainer._run_step

    def nan_at_step_7(self, function, batch):
        loss, tokens = original_step(self, function, batch)
        return (float("nan") if self.progress["step"] == 6 else loss), tokens
    with monkeypatch.context() as patch:
        patch.setattr(training.Trainer, "_run_step", nan_at_step_7)
        with pytest.raises(Seq2SeqError, match=r"loss became nan at step 7: lower "
                           r"--learning-rate \(now 0.005\) .* start again with --overwrite "
                           r"\(--resume keeps the "
                           r"learning rate\); .*last.npz holds the last good state"):
            train_run(small_config(max_steps=10), run_dir, progress_bar=False, log=quiet)
    assert load_checkpoint(RunDir(run_dir).checkpoint("last"))["progress"]["step"] == 5

    # At the first step: nothing of this run was saved, though the last.npz
    # of the run it overwrites is still there.
    original = models.Seq2Seq.__init__

    def poisoned(self, config, vocab_size, embedding_matrix=None):
        original(self, config, vocab_size, embedding_matrix)
        biases = self.l_logits.b.get_value()
        biases[0] = np.nan
        self.l_logits.b.set_value(biases)
    monkeypatch.setattr(models.Seq2Seq, "__init__", poisoned)
    with pytest.raises(Seq2SeqError, match=r"loss became nan at step 1: .* start again with "
                       r"--overwrite; no checkpoint was written before it") as error:
        train_run(small_config(max_steps=3), run_dir, overwrite=True, progress_bar=False,
                  log=quiet)
    assert "last good state" not in str(error.value)


def test_warm_start_refuses_a_run_with_another_vocabulary(v1_reverse, tmp_path):
    # The same words in another order: every shape fits, every row is wrong.
    from lasagne_seq2seq.data.vocab import Vocabulary
    source = tmp_path / "v1-other-ids"
    shutil.copytree(v1_reverse, source)
    tokens = Vocabulary.load(str(source / "vocab.json")).tokens
    tokens[4], tokens[5] = tokens[5], tokens[4]
    Vocabulary(tokens).save(str(source / "vocab.json"))
    run_dir = str(tmp_path / "v2")
    config = toy_config("reversed_phrases", model="v2", init_encoder=str(source))
    with pytest.raises(Seq2SeqError, match=r"--init-encoder .*v1-other-ids: its vocabulary "
                       r"\(.*v1-other-ids/vocab.json\) differs from this run's \(.*v2/vocab.json"
                       r"\), .* train the v1 run on the same corpus and settings"):
        train_run(config, run_dir, progress_bar=False, log=quiet)


def test_truncated_and_mismatched_checkpoints_are_rejected(tmp_path):
    run_dir = str(tmp_path / "run")
    train_run(small_config(max_steps=5), run_dir, progress_bar=False, log=quiet)
    run = RunDir(run_dir)
    data = Path(run.checkpoint("best")).read_bytes()
    Path(run.checkpoint("best")).write_bytes(data[:len(data) // 2])
    with pytest.raises(Seq2SeqError, match="truncated or corrupt"):
        load_model(run_dir, "best")
    config = RunDir(run_dir).load_config()
    config.model.hidden_size = 32
    from lasagne_seq2seq.config import save_config
    save_config(config, run.config)
    with pytest.raises(Seq2SeqError, match="shape"):
        load_model(run_dir, "last")


def test_pretrained_embeddings_reach_the_network_and_can_stay_frozen(tmp_path):
    from lasagne_seq2seq.data.vocab import Vocabulary
    words = sorted({w for line in toy_path("train", "reversed_phrases").read_text()
                    .split("\n")[:600] for w in line.split()})
    rng = np.random.RandomState(0)
    vectors = {word: rng.randn(8).round(3) for word in words}
    path = tmp_path / "vectors.txt"
    path.write_text("%d 8\n" % len(words) + "".join(
        "%s %s\n" % (w, " ".join(map(str, v))) for w, v in vectors.items()))
    config = small_config(max_steps=3, embeddings=str(path), freeze_embeddings=True)
    run_dir = str(tmp_path / "pretrained")
    train_run(config, run_dir, progress_bar=False, log=quiet)
    vocab = Vocabulary.load(RunDir(run_dir).vocab)
    trained = load_checkpoint(RunDir(run_dir).checkpoint("last"))["params"]["source_embedding.W"]
    covered = [w for w in vocab.tokens if w in vectors]
    assert len(covered) > 100
    for word in covered:
        np.testing.assert_allclose(trained[vocab.token_to_id[word]], vectors[word], rtol=1e-5)
    assert not trained[vocab.pad_id].any()


def test_a_model_trains_from_corpus_word2vec_vectors(tmp_path):
    logged = []
    train_run(small_config(max_steps=2, embeddings="word2vec"), str(tmp_path / "w2v"),
              progress_bar=False, log=logged.append)
    assert any(line.startswith("embeddings word2vec") for line in logged), logged
    assert load_checkpoint(RunDir(str(tmp_path / "w2v")).checkpoint("last"))["progress"]["step"] == 2
