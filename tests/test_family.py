"""The model family: every network decodes exactly as it trains, carries a
memory across exchanges, saves and reloads by parameter name, and learns
reversal; attention beats v1 on long sequences."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.checkpoint import load_model
from lasagne_seq2seq.config import ModelConfig, RunConfig
from lasagne_seq2seq.data import EncodedPairs, iterate_batches
from lasagne_seq2seq.decoding import Decoder
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.models import build_network
from lasagne_seq2seq.training import train_run
import theano
import theano.tensor as T

VOCAB = 23
BIN = Path(__file__).resolve().parents[1] / "bin"


def load_script(name):
    """A script of bin/ as a module (its main runs in this process)."""
    spec = importlib.util.spec_from_file_location(name[:-3], BIN / name)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def small_batch():
    rng = np.random.RandomState(1)
    pairs = EncodedPairs([rng.randint(4, VOCAB, n).astype("int32") for n in (3, 5, 2)],
                         [rng.randint(4, VOCAB, n).astype("int32") for n in (4, 1, 3)])
    batch = next(iterate_batches(pairs, 3))
    return [batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask]


@pytest.mark.parametrize("options", [
    dict(model="attention", cell="gru", norm_stabilizer=0.5, norm_stabilize="both"),
    dict(model="attention", cell="jzs3", bidirectional=False, attention_score="general",
         encoder_depth=2, decoder_depth=2, tie_embeddings=False),
    dict(model="v2", cell="irnn", broadcast_state=False, word_dropout=0.2)])
def test_step_function_reproduces_the_training_loss_and_memory_carries(options):
    config = ModelConfig(embedding_size=6, hidden_size=10, **options)
    net = build_network(config, VOCAB)
    assert len({p.name for p in net.params}) == len(net.params)
    arrays = small_batch()
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    terms = net.loss_terms(*variables, deterministic=True)
    loss_fn = theano.function(variables, [terms.loss, terms.penalty], on_unused_input="ignore")
    training_loss, penalty = (float(v) for v in loss_fn(*arrays))
    assert (penalty > 0) == (config.norm_stabilizer > 0)

    encode_fn, step_fn = net.compile_decoder()
    encoded = encode_fn(*arrays[:2])
    state, *extras = encoded
    decoding_loss = 0.0
    for t in range(arrays[2].shape[1]):
        outputs = step_fn(arrays[2][:, t], state, *extras)
        log_probs, state = outputs[:2]
        picked = log_probs[np.arange(3), arrays[3][:, t]]
        decoding_loss -= float((picked * arrays[4][:, t]).sum())
    np.testing.assert_allclose(decoding_loss, training_loss, rtol=1e-4)
    if config.model == "attention":  # weights over the real source positions
        weights = outputs[2]
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
        assert not (weights * (1 - arrays[1])).any()

    memory_fn = net.compile_memory_encoder()
    zeros = np.zeros((3, net.memory_size), "float32")
    *fresh, memory = memory_fn(arrays[0], arrays[1], zeros)
    for got, expected in zip(fresh, encoded):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    *remembered, _ = memory_fn(arrays[0], arrays[1], memory)
    assert memory.shape == (3, net.memory_size)
    # The earlier exchange changes what the decoder starts from.
    assert not all(np.allclose(a, b) for a, b in zip(remembered, fresh))


def reversal_pairs(rng, n, low, high, words=20):
    """``n`` random phrases of ``low..high`` words and their reversals."""
    pairs = []
    for _ in range(n):
        phrase = ["w%d" % k for k in rng.randint(0, words, rng.randint(low, high + 1))]
        pairs.append((" ".join(phrase), " ".join(phrase[::-1])))
    return pairs


def reversal_config(corpus, model, length, cell="lstm", **train):
    config = RunConfig()
    config.data.corpus, config.data.format, config.data.tokenizer = str(corpus), "tsv", "classic"
    config.data.vocab_size, config.data.max_src_len, config.data.max_tgt_len = 100, length, length
    config.data.valid_fraction, config.data.test_fraction = 0.05, 0.0
    config.model.model, config.model.cell = model, cell
    config.model.embedding_size, config.model.hidden_size = 32, 64
    config.model.reverse_source = False
    config.train.batch_size, config.train.buckets, config.train.validate_every = 32, 1, 10 ** 6
    config.train.sample_every, config.train.learning_rate = 0, 0.005
    for name, value in train.items():
        setattr(config.train, name, value)
    return config


def exact_match(run_dir, pairs):
    config, vocab, net = load_model(run_dir, which="last")
    replies = Decoder(net, vocab, config).reply([q for q, _ in pairs])
    return float(np.mean([r.text == a for r, (_, a) in zip(replies, pairs)]))


def train_and_score(tmp_path, name, train_pairs, test_pairs, model, length, cell="lstm",
                    **train):
    corpus = tmp_path / ("%s.tsv" % name)
    if not corpus.exists():
        corpus.write_text("".join("%s\t%s\n" % pair for pair in train_pairs))
    run_dir = str(tmp_path / name)
    train_run(reversal_config(corpus, model, length, cell, **train), run_dir,
              progress_bar=False, log=lambda line: None)
    return exact_match(run_dir, test_pairs)


@pytest.fixture(scope="module")
def long_reversal(tmp_path_factory):
    """Attention and v1 trained for the same steps on 8-12 word reversals:
    each one's held-out exact match and run directory, and the test pairs."""
    tmp_path = tmp_path_factory.mktemp("long")
    rng = np.random.RandomState(0)
    train_pairs, test_pairs = reversal_pairs(rng, 3000, 8, 12), reversal_pairs(rng, 100, 8, 12)
    scores = {model: train_and_score(tmp_path, model, train_pairs, test_pairs, model, 12,
                                     max_steps=450, epochs=100)
              for model in ("v1", "attention")}
    return {"exact_match": scores, "test_pairs": test_pairs,
            "run_dir": {model: str(tmp_path / model) for model in scores}}


def test_attention_beats_v1_on_long_reversal(long_reversal):
    scores = long_reversal["exact_match"]
    print("exact match on 8-12 word reversal: %s" % scores)
    assert scores["attention"] >= 0.5
    assert scores["attention"] > scores["v1"] + 0.2


def test_attention_map_of_a_reversal_is_the_anti_diagonal(long_reversal, tmp_path):
    config, vocab, net = load_model(long_reversal["run_dir"]["attention"], which="last")
    decoder = Decoder(net, vocab, config)
    question = long_reversal["test_pairs"][0][0]
    chart = decoder.attention_map(question)
    n = len(question.split())
    assert chart.source == question.split()
    assert chart.target == chart.reply.tokens + ["</s>"]
    assert chart.weights.shape == (len(chart.target), n)
    assert (chart.weights >= 0).all()
    np.testing.assert_allclose(chart.weights.sum(axis=1), 1.0, rtol=1e-5)
    # Reply word t is question word n - 1 - t, and that is where it looks.
    peaks = chart.weights[:n].argmax(axis=1)
    assert np.mean(peaks == np.arange(n)[::-1][:len(peaks)]) >= 0.8, chart.weights.round(2)
    # In a batch, padding positions get no weight.
    short, long = [vocab.encode(q.split()) for q in ("w1 w2 w3", question)]
    steps = decoder.main.teacher_forced([short, long], [short[::-1], long[::-1]])[2]
    assert all(not outputs[2][0, 3:].any() for outputs in steps)

    script = load_script("test.py")
    questions = tmp_path / "questions.txt"
    questions.write_text("%s\nw1 w2 w3\n" % question)
    pattern = str(tmp_path / "map{}.png")
    assert script.main([long_reversal["run_dir"]["attention"], "--questions", str(questions),
                        "--attention-plot", pattern]) == 0
    for number in (1, 2):
        assert (tmp_path / ("map%d.png" % number)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(Seq2SeqError, match="--model attention"):
        script.main([long_reversal["run_dir"]["v1"], "--attention-plot", pattern])


@pytest.mark.parametrize("model, cell", [
    ("simple", "lstm"), ("v1", "gru"), ("v1", "jzs1"), ("v1", "jzs2"), ("v1", "jzs3"),
    ("v1", "irnn")])
def test_every_model_and_cell_learns_short_reversal(tmp_path, model, cell):
    rng = np.random.RandomState(0)
    train_pairs, test_pairs = reversal_pairs(rng, 1500, 2, 3), reversal_pairs(rng, 50, 2, 3)
    score = train_and_score(tmp_path, "%s-%s" % (model, cell), train_pairs, test_pairs,
                            model, 3, cell, max_steps=250, epochs=100)
    assert score >= 0.6, score


def test_unrolled_attention_at_the_default_length_differentiates():
    """Its gradient recurses deeper than Python's default 1,000 frames
    (RecursionError before compat raised the limit)."""
    net = build_network(ModelConfig(model="attention"), VOCAB)  # graph only: nothing compiled
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    config = RunConfig().data
    loss = net.loss(*variables, n_src_steps=config.max_src_len,
                    n_tgt_steps=config.max_tgt_len + 1)
    assert len(T.grad(loss / variables[4].sum(), net.params)) == len(net.params)
