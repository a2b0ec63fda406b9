"""Evaluation: the metrics on hand-made replies, and bin/evaluate.py on a
model that learned the phrase-reversal toy task versus an untrained one."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lasagne_seq2seq.config import load_config, save_config
from lasagne_seq2seq.decode.options import DecodeOptions
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.evaluation.metrics import (corpus_bleu,
    distinct_n,
    mean_length,
    most_common_reply,
    reply_metrics,
    top_reply_share,
    unk_share)
from lasagne_seq2seq.evaluation.evaluate import evaluate_run, format_table
from toy import toy_path

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy_test():
    """The reversal task's 50 held-out pairs (a plain file)."""
    return str(toy_path("test", "reversed_phrases"))


# ------------------------------------------------------------------ metrics
def test_distinct_n_counts_distinct_ngrams_over_all_replies():
    replies = [["i", "do", "not", "know"], ["i", "do", "not", "care"]]
    assert distinct_n(replies, 1) == 5 / 8   # i, do, not, know, care
    assert distinct_n(replies, 2) == 4 / 6   # (i do), (do not) repeat
    assert distinct_n(replies, 5) == 0.0     # no 5-grams at all
    assert distinct_n([["same"]] * 10, 1) == 0.1
    with pytest.raises(ValueError):
        distinct_n(replies, 0)


def test_bleu_is_100_for_exact_replies_and_orders_partial_matches():
    references = [["the", "cat", "sat", "on", "the", "mat"], ["how", "are", "you", "today"]]
    assert corpus_bleu(references, references) == pytest.approx(100.0)
    close = [["the", "cat", "sat", "on", "a", "mat"], ["how", "are", "you", "now"]]
    far = [["a", "dog", "sat", "here"], ["who", "are", "they"]]
    assert 0.0 < corpus_bleu(references, far) < corpus_bleu(references, close) < 100.0
    assert corpus_bleu(references, [[], []]) == 0.0
    with pytest.raises(ValueError):
        corpus_bleu(references, close[:1])


def test_bleu_smoothing_grades_replies_without_a_4gram_match():
    # No hypothesis matches a 4-gram: unsmoothed BLEU-4 would be 0 for both.
    references = [["a", "b", "c", "d", "e"], ["f", "g", "h", "i", "j"]]
    one_word_right = [["a", "x", "y", "z", "w"], ["f", "x", "y", "z", "w"]]
    two_words_right = [["a", "b", "y", "z", "w"], ["f", "g", "y", "z", "w"]]
    assert 0.0 < corpus_bleu(references, one_word_right) < corpus_bleu(references, two_words_right)


def test_bleu_orders_stop_at_the_longest_reference():
    references = [["a", "b", "c"], ["d", "e", "f"]]
    assert corpus_bleu(references, references) == pytest.approx(100.0)
    assert corpus_bleu(references, references, max_order=2) == pytest.approx(100.0)
    assert corpus_bleu(references, [["a", "b", "x"], ["d", "e", "f"]]) < 100.0


def test_length_and_most_frequent_reply():
    replies = [["i", "don't", "know"], ["yes"], ["i", "don't", "know"], ["no", "way"]]
    assert mean_length(replies) == (3 + 1 + 3 + 2) / 4
    assert most_common_reply(replies) == (("i", "don't", "know"), 0.5)
    assert top_reply_share([["a"], ["b"], ["c"]]) == pytest.approx(1 / 3)
    assert mean_length([]) == 0.0 and most_common_reply([]) == ((), 0.0)
    treebank = [["i", "do", "n't", "know", "."]] * 2 + [["no"]]
    assert reply_metrics(treebank, treebank)["top_reply"] == "i don't know."


def test_unk_share_counts_replies_with_an_unknown_token():
    replies = [["a", "<unk>"], ["b"], ["<unk>", "<unk>"], ["piece<unk>"], ["c"]]
    assert unk_share(replies) == pytest.approx(3 / 5)
    assert unk_share([["a"], ["b"]]) == 0.0 and unk_share([]) == 0.0
    assert reply_metrics(replies, replies)["unk_reply_share"] == pytest.approx(3 / 5)


# ------------------------------------------------------ trained toy models
@pytest.fixture(scope="module")
def runs(v1_reverse, tmp_path_factory):
    """The session's model trained to reverse phrases, and the same run with fresh weights."""
    from lasagne_seq2seq.rundir import RunDir, save_checkpoint
    from lasagne_seq2seq.models.registry import build_network
    untrained = str(tmp_path_factory.mktemp("runs") / "untrained")
    shutil.copytree(v1_reverse, untrained)
    run = RunDir(untrained)
    fresh = build_network(run.load_config().model, len(run.load_vocab()))
    for which in ("best", "last"):
        save_checkpoint(run.checkpoint(which), fresh.param_values())
    return {"trained": v1_reverse, "untrained": untrained}


def test_bleu_near_one_for_a_model_that_learned_reversal_and_low_untrained(runs, toy_test):
    learned = evaluate_run(runs["trained"], pairs=toy_test, fmt="plain")
    untrained = evaluate_run(runs["untrained"], pairs=toy_test, fmt="plain")
    assert learned["pairs"] == untrained["pairs"] == 50
    assert learned["bleu"] > 90 and untrained["bleu"] < 20  # sacreBLEU's 0-100 scale
    assert learned["perplexity"] < 2.0 < untrained["perplexity"]
    # Reversed 3-word phrases: replies as long and as varied as the references.
    assert abs(learned["mean_length"] - learned["reference_mean_length"]) < 0.2
    assert learned["top_reply_share"] <= 0.1 and learned["distinct_1"] > untrained["distinct_1"]


def test_held_out_split_is_rebuilt_with_the_runs_vocabulary_and_seed(runs):
    from lasagne_seq2seq.rundir import RunDir
    from lasagne_seq2seq.data.batches import build_dataset
    config = load_config(RunDir(runs["trained"]).config)
    d = config.data
    dataset = build_dataset(d.corpus, fmt=d.format, tokenizer=d.tokenizer, pairing=d.pairing,
                            vocab_size=d.vocab_size, max_src_len=d.max_src_len,
                            max_tgt_len=d.max_tgt_len, valid_fraction=d.valid_fraction,
                            test_fraction=d.test_fraction, seed=config.train.seed)
    results = evaluate_run(runs["trained"], max_pairs=None)
    assert results["pairs"] == len(dataset.test) > 0
    assert results["target_tokens"] == sum(len(reply) + 1 for reply in dataset.test.tgt)  # + EOS
    assert results["bleu"] > 80


@pytest.mark.parametrize("options", [
    DecodeOptions(strategy="beam", beam=4, nbest=2, alpha=0.5),
    DecodeOptions(strategy="sample", temperature=0.5, top_k=5, seed=3),
])
def test_every_strategy_decodes_the_learned_reversal(runs, toy_test, options):
    # All 50 held-out pairs: over the first 20 (which hold both questions with
    # a word unseen in training) even greedy scores only 82, and sampling
    # 72-85 across seeds; over all 50 sampling scores 87-93.
    results = evaluate_run(runs["trained"], pairs=toy_test, fmt="plain", options=options)
    assert results["pairs"] == 50 and results["bleu"] > 80
    assert results["options"]["strategy"] == options.strategy


def test_bin_evaluate_prints_a_table_and_writes_json(runs, toy_test, tmp_path):
    out = tmp_path / "beam.json"
    process = subprocess.run(
        [sys.executable, str(REPO / "bin" / "evaluate.py"), runs["trained"], "--pairs", toy_test,
         "--format", "plain", "--strategy", "beam", "--beam", "3", "--max-pairs", "10",
         "--json", str(out)], capture_output=True, text=True, cwd=str(REPO))
    assert process.returncode == 0, process.stderr
    results = json.loads(out.read_text())
    assert results["pairs"] == 10 and results["options"]["beam"] == 3
    assert format_table(results) in process.stdout
    assert "BLEU" in process.stdout and "distinct-2" in process.stdout


def test_a_run_without_a_test_split_asks_for_pairs(runs, tmp_path):
    copy = tmp_path / "no-test-split"
    shutil.copytree(runs["trained"], copy)
    config = load_config(str(copy / "config.json"))
    config.data.test_fraction = 0.0
    save_config(config, str(copy / "config.json"))
    with pytest.raises(Seq2SeqError, match="--pairs"):
        evaluate_run(str(copy))


def test_bin_evaluate_rejects_bad_decoding_flags_in_one_line(tmp_path):
    process = subprocess.run(
        [sys.executable, str(REPO / "bin" / "evaluate.py"), str(tmp_path), "--strategy", "sample",
         "--temperature", "0"],
        capture_output=True, text=True, cwd=str(REPO))
    assert process.returncode == 2
    assert process.stderr.startswith("error: --temperature must be > 0")
    assert len(process.stderr.strip().splitlines()) == 1


# ------------------------------------------------------- multi-turn models
@pytest.fixture(scope="module")
def multiturn_run(tmp_path_factory):
    """A v1 run trained with --remember-state on tests/test_multiturn.py's
    task (each reply names the question's word and the previous question's),
    with a test split of its own conversations, and its dataset."""
    import numpy as np
    from lasagne_seq2seq.data.batches import build_dataset
    from lasagne_seq2seq.train.run import train_run
    from test_multiturn import conversations, multiturn_config, write_script
    root = tmp_path_factory.mktemp("multiturn")
    corpus = root / "chats.txt"
    write_script(corpus, conversations(np.random.RandomState(0), 700))
    config = multiturn_config(corpus, remember_state=True)
    config.data.test_fraction = 0.1
    run_dir = str(root / "carry")
    train_run(config, run_dir, progress_bar=False, log=lambda line: None)
    d = config.data
    dataset = build_dataset(d.corpus, fmt=d.format, tokenizer=d.tokenizer, pairing=d.pairing,
                            vocab_size=d.vocab_size, max_src_len=d.max_src_len,
                            max_tgt_len=d.max_tgt_len, valid_fraction=d.valid_fraction,
                            test_fraction=d.test_fraction, seed=config.train.seed)
    return run_dir, dataset


def test_a_multiturn_model_is_evaluated_carrying_its_state(multiturn_run):
    from lasagne_seq2seq.rundir import RunDir, load_checkpoint
    from lasagne_seq2seq.models.registry import load_model
    from lasagne_seq2seq.evaluation.evaluate import perplexity_of
    run_dir, dataset = multiturn_run
    config, vocab, net = load_model(run_dir)
    # On the validation split, exactly what training measured for best.npz.
    best = load_checkpoint(RunDir(run_dir).checkpoint("best"))["progress"]["best_valid_ppl"]
    validation = perplexity_of(net, dataset.valid, carry_state=True)[0]
    assert validation == pytest.approx(best, rel=1e-4)
    carried = evaluate_run(run_dir)
    zeros = evaluate_run(run_dir, carry_state=False)
    print("test ppl carrying %.3f (validation %.3f), zeros %.3f; BLEU %.3f vs %.3f"
          % (carried["perplexity"], validation, zeros["perplexity"], carried["bleu"],
             zeros["bleu"]))
    assert carried["pairs"] == zeros["pairs"] == len(dataset.test) > 50
    assert carried["carried_state"] and not zeros["carried_state"]
    assert carried["conversations"] == len(set(dataset.test.conversation)) > 5
    # The previous word is a 1-in-12 guess without the state.
    assert carried["perplexity"] == pytest.approx(validation, abs=0.15)
    assert carried["perplexity"] < 1.25 and zeros["perplexity"] > 1.6
    assert carried["bleu"] > 90 > zeros["bleu"] + 20
    assert "carried through each of %d conversations" % carried["conversations"] \
        in format_table(carried)
    assert "zeros at every exchange" in format_table(zeros)


def test_evaluation_replies_are_those_of_a_remembering_conversation(multiturn_run):
    """decode_conversations, many conversations side by side, replies as
    Conversation (bin/test.py --interactive --remember) does one at a time."""
    from lasagne_seq2seq.models.registry import load_model
    from lasagne_seq2seq.decode.decoder import Decoder
    from lasagne_seq2seq.evaluation.evaluate import decode_conversations
    from lasagne_seq2seq.train.multiturn import conversations_of
    run_dir, dataset = multiturn_run
    config, vocab, net = load_model(run_dir)
    decoder = Decoder(net, vocab, config)
    pairs = dataset.test
    batched = decode_conversations(decoder, pairs, DecodeOptions(), batch_size=4)
    chat = decoder.start_conversation(remember=True)
    one_by_one = [None] * len(pairs)
    for conversation in conversations_of(pairs)[:6]:
        chat.reset()
        for index in conversation:
            one_by_one[index] = chat.reply(" ".join(vocab.decode(pairs.src[index]))).tokens
    compared = [i for i, reply in enumerate(one_by_one) if reply is not None]
    assert len(compared) >= 20
    assert [batched[i] for i in compared] == [one_by_one[i] for i in compared]
    right = [batched[i] == vocab.decode(pairs.tgt[i]) for i in range(len(pairs))]
    assert sum(right) >= 0.9 * len(pairs)


def test_bin_evaluate_says_whether_it_carried_the_state(multiturn_run, tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location("evaluate", REPO / "bin" / "evaluate.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    run_dir, _ = multiturn_run
    for flags, line in (([], "carried through each of"), (["--zero-memory"], "zeros at every")):
        out = tmp_path / "results.json"
        assert script.main([run_dir, "--max-pairs", "30", "--json", str(out)] + flags) == 0
        assert line in capsys.readouterr().out
        assert json.loads(out.read_text())["carried_state"] == (not flags)


def test_evaluate_works_on_an_attention_model(v1_reverse, toy_test, tmp_path):
    """An untrained bidirectional attention network (nothing to train: the
    point is that evaluation compiles and scores it) on the reversal data."""
    from lasagne_seq2seq.rundir import RunDir, save_checkpoint
    from lasagne_seq2seq.models.registry import build_network
    run_dir = tmp_path / "attention"
    shutil.copytree(v1_reverse, run_dir)
    run = RunDir(str(run_dir))
    config = run.load_config()
    config.model.model, config.model.hidden_size, config.model.embedding_size = \
        "attention", 16, 16
    save_config(config, run.config)
    vocab = run.load_vocab()
    net = build_network(config.model, len(vocab))
    for which in ("best", "last"):
        save_checkpoint(run.checkpoint(which), net.param_values())
    results = evaluate_run(str(run_dir), pairs=toy_test, fmt="plain", max_pairs=10,
                           options=DecodeOptions(strategy="beam", beam=2))
    assert results["pairs"] == 10 and len(results["examples"]) == 5
    # Near-uniform next-word guesses over the vocabulary: perplexity near its size.
    assert len(vocab) / 2 < results["perplexity"] < 2 * len(vocab)
    assert not results["carried_state"] and "encoder state" not in format_table(results)
