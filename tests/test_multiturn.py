"""Multi-turn training (--remember-state): conversation-ordered batches, the
encoder state carried across exchanges and reset between conversations, and
a task that only a model carrying the state can learn."""
import numpy as np
import pytest

from lasagne_seq2seq.rundir import RunDir, load_checkpoint
from lasagne_seq2seq.models.registry import load_model
from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.data.batches import EncodedPairs, build_dataset
from lasagne_seq2seq.decode.decoder import Decoder
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.train.multiturn import MultiTurnTrainer, carry, conversation_batches
from lasagne_seq2seq.train.run import train_run

WORDS = "apple pear plum fig lime kiwi date lemon melon grape peach mango".split()


def conversations(rng, count, exchanges=5):
    """Each exchange: a word, answered by that word and the previous
    exchange's word ("none" first), so replies depend on the last exchange."""
    result = []
    for _ in range(count):
        words = list(rng.choice(WORDS, exchanges))
        result.append([(word, "%s %s" % (word, previous))
                       for word, previous in zip(words, ["none"] + words[:-1])])
    return result


def write_script(path, chats):
    path.write_text("\n".join("".join("%s\n%s\n" % pair for pair in chat) for chat in chats))


def test_batches_follow_conversations_and_mark_their_starts():
    # conversations 7 (3 exchanges), 2 (1), 9 (2), 4 (2): pairs in conversation order
    ids = [7, 7, 7, 2, 9, 9, 4, 4]
    pairs = EncodedPairs([np.array([4 + i], "int32") for i in range(8)],
                         [np.array([5, 6][:1 + i % 2], "int32") for i in range(8)], ids)
    batches = list(conversation_batches(pairs, 2, rng=np.random.RandomState(0)))
    seen, rows = [], [[], []]
    for batch in batches:
        assert batch.src.shape[0] == 2
        for row in range(2):
            if batch.src_mask[row].any():
                index = int(batch.src[row, 0]) - 4
                seen.append(index)
                rows[row].append((index, batch.starts[row]))
            else:  # a finished row is padding only and starts nothing
                assert not batch.tgt_mask[row].any() and batch.starts[row] == 0
    assert sorted(seen) == list(range(8))
    for row in rows:  # in order inside a conversation; starts exactly at its first pair
        for (previous, _), (index, start) in zip([(None, 1.0)] + row, row):
            first = index == 0 or ids[index - 1] != ids[index]
            assert start == float(first)
            if not first:
                assert previous == index - 1
    assert carry(np.ones((2, 3), "float32"), np.array([0, 1], "float32"), 3)[1].sum() == 0
    with pytest.raises(Seq2SeqError, match="conversation"):
        list(conversation_batches(EncodedPairs([[4]], [[5]]), 2))


def multiturn_config(corpus, remember_state):
    config = RunConfig()
    d, m, t = config.data, config.model, config.train
    d.corpus, d.format, d.tokenizer, d.pairing = str(corpus), "script", "classic", "alternate"
    d.vocab_size, d.max_src_len, d.max_tgt_len = 100, 2, 2
    d.valid_fraction, d.test_fraction = 0.1, 0.0
    m.embedding_size, m.hidden_size, m.remember_state = 16, 48, remember_state
    t.batch_size, t.buckets, t.learning_rate = 32, 1, 0.01
    t.max_steps, t.epochs, t.validate_every, t.sample_every = 250, 100, 125, 0
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The same v1 network trained with and without carrying the state."""
    root = tmp_path_factory.mktemp("multiturn")
    corpus = root / "chats.txt"
    write_script(corpus, conversations(np.random.RandomState(0), 700))
    runs = {}
    for remember in (True, False):
        runs[remember] = str(root / ("carry" if remember else "plain"))
        train_run(multiturn_config(corpus, remember), runs[remember], progress_bar=False,
                  log=lambda line: None)
    return runs


def history(run_dir):
    import json
    with open(RunDir(run_dir).history) as handle:
        return json.load(handle)


def test_carrying_the_state_learns_what_a_single_exchange_cannot(trained):
    carried, plain = history(trained[True]), history(trained[False])
    print("valid ppl carrying %.3f, not carrying %.3f" % (carried[-1]["valid_ppl"],
                                                           plain[-1]["valid_ppl"]))
    assert carried[-1]["train_ppl"] < carried[0]["train_ppl"]  # the loss falls
    # The previous word is a 1-in-12 guess without the state (ppl ~1.9 at best).
    assert plain[-1]["valid_ppl"] > 1.6
    assert carried[-1]["valid_ppl"] < 1.25

    config, vocab, net = load_model(trained[True])
    decoder = Decoder(net, vocab, config)
    chat = decoder.start_conversation(remember=True)
    right = total = 0
    for exchanges in conversations(np.random.RandomState(1), 20):
        chat.reset()
        for question, answer in exchanges:
            right += chat.reply(question).text == answer
            total += 1
    assert right / total >= 0.9, (right, total)


def test_resume_carries_the_state_on_exactly(tmp_path):
    corpus = tmp_path / "chats.txt"
    write_script(corpus, conversations(np.random.RandomState(2), 120))
    runs = {}
    for name, stops in (("straight", [10]), ("halves", [6, 10])):
        runs[name] = str(tmp_path / name)
        for k, steps in enumerate(stops):
            config = multiturn_config(corpus, remember_state=True)
            config.train.max_steps, config.data.valid_fraction = steps, 0.0  # no validation
            train_run(config, runs[name], resume=k > 0, progress_bar=False,
                      log=lambda line: None)
    a, b = (load_checkpoint(RunDir(runs[name]).checkpoint("last")) for name in runs)
    assert a["progress"]["step"] == b["progress"]["step"] == 10
    for name, value in a["params"].items():
        np.testing.assert_allclose(b["params"][name], value, rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_state_resets_between_conversations(trained):
    """Validation perplexity is the same whether each conversation has a row
    of its own or all share one row: the carried state never leaks from one
    conversation into the next."""
    config, vocab, net = load_model(trained[True])
    d = config.data
    dataset = build_dataset(d.corpus, fmt=d.format, tokenizer=d.tokenizer, pairing=d.pairing,
                            max_src_len=d.max_src_len, max_tgt_len=d.max_tgt_len,
                            valid_fraction=d.valid_fraction, test_fraction=d.test_fraction,
                            seed=config.train.seed, vocab=vocab)
    trainer = MultiTurnTrainer(net, dataset, config, RunDir(trained[True]))
    values = {}
    for rows in (1, 100):
        config.train.batch_size = rows
        values[rows] = trainer.validate()
    assert values[1] == pytest.approx(values[100], rel=1e-4)
    # Read as one long conversation, the state does leak: a different figure.
    dataset.valid.conversation = [0] * len(dataset.valid)
    config.train.batch_size = 1
    assert abs(trainer.validate() - values[1]) > 1e-3
