"""The model family: every network decodes exactly as it trains, carries a
memory across exchanges, computes the norm-stabiliser as the paper defines
it, learns reversal, reloads from its run directory to decode exactly as it
trained, and works with beam search and anti-LM; attention beats v1 on long
sequences."""
import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.train import trainer as training
from lasagne_seq2seq.train.run import train_run
from lasagne_seq2seq.models.registry import load_model
from lasagne_seq2seq.config import ModelConfig, RunConfig
from lasagne_seq2seq.decode.options import DecodeOptions
from lasagne_seq2seq.decode.decoder import Decoder
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.models.registry import build_network
import theano
import theano.tensor as T

from toy import tiny_batch

VOCAB = 23
BIN = Path(__file__).resolve().parents[1] / "bin"


def load_script(name):
    """A script of bin/ as a module (its main runs in this process)."""
    spec = importlib.util.spec_from_file_location(name[:-3], BIN / name)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script




@pytest.mark.parametrize("options", [
    dict(model="attention", cell="gru", norm_stabilizer=0.5, norm_stabilize="both"),
    dict(model="attention", cell="jzs3", bidirectional=False, attention_score="general",
         encoder_depth=2, decoder_depth=2, tie_embeddings=False),
    dict(model="v2", cell="irnn", broadcast_state=False, word_dropout=0.2)])
def test_step_function_reproduces_the_training_loss_and_memory_carries(options):
    config = ModelConfig(embedding_size=6, hidden_size=10, **options)
    net = build_network(config, VOCAB)
    assert len({p.name for p in net.params}) == len(net.params)
    arrays = tiny_batch(VOCAB)
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


def numpy_logits(net, features):
    """The output layer in NumPy: ``features`` ``(n, width)`` to logits."""
    if net.l_projection is not None:
        features = features @ net.l_projection.W.get_value() + net.l_projection.b.get_value()
    if net.config.tie_embeddings:
        weights = net.l_tgt_embed.W.get_value().T
    else:
        weights = net.l_logits.W.get_value()
    return features @ weights + net.l_logits.b.get_value()


def numpy_log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def paper_norm_stabilizer(sequences, lengths):
    """Krueger & Memisevic's penalty before beta, from ``(batch, time, units)``
    arrays: ``(||s_t|| - ||s_{t-1}||)^2`` averaged over the transitions
    between the real steps of every sequence."""
    changes = [np.diff(np.linalg.norm(sequence[:length], axis=1)) ** 2
               for sequence, length in zip(sequences, lengths)]
    return np.concatenate(changes).mean()


@pytest.mark.parametrize("options", [
    dict(model="v1", cell="lstm", encoder_depth=2, decoder_depth=2, tie_embeddings=False),
    dict(model="attention", cell="gru")])
def test_norm_stabilizer_is_the_papers_penalty_on_hidden_states_and_logits(options):
    """Against states and logits read from the decoder step, not the training graph.

    As in the paper, the penalty is the mean squared change of the norm
    between successive steps, here over a reply's real steps only. Its sum
    starts at the first transition between decoder outputs: the paper's
    ``t = 1`` term compares ``h_1`` with ``h_0``, which for a decoder is the
    encoder's thought vector (v1), a bridge (attention) or zeros (simple),
    whose norm the decoder has no reason to keep, and logits have no
    step 0 at all.
    """
    beta = 0.3
    base = ModelConfig(embedding_size=6, hidden_size=10, norm_stabilizer=beta, **options)
    nets = {}
    for which in ("hidden", "logits", "both"):
        nets[which] = build_network(dataclasses.replace(base, norm_stabilize=which), VOCAB)
        nets[which].set_param_values(nets["hidden"].param_values())
    arrays = tiny_batch(VOCAB)
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    penalties = theano.function(variables, [net.loss_terms(*variables, deterministic=True).penalty
                                            for net in nets.values()], on_unused_input="ignore")
    got = dict(zip(nets, (float(p) for p in penalties(*arrays))))

    net = nets["hidden"]
    encode_fn, step_fn = net.compile_decoder()
    state, *extras = encode_fn(*arrays[:2])
    hidden, logits = [], []
    for t in range(arrays[2].shape[1]):
        log_probs, state, *weights = step_fn(arrays[2][:, t], state, *extras)
        top = state[:, -net.state_size:][:, :base.hidden_size]  # the top layer's h
        features = top
        if weights:  # attention: the output layer reads [h, context]
            features = np.concatenate([top, (weights[0][:, :, None] * extras[0]).sum(axis=1)], 1)
        hidden.append(top)
        logits.append(numpy_logits(net, features))
        # They are the logits that the step normalised.
        np.testing.assert_allclose(numpy_log_softmax(logits[-1]), log_probs, rtol=1e-4, atol=1e-5)
    lengths = arrays[4].sum(axis=1).astype(int)
    assert sorted(lengths) == [2, 4, 5]  # padding to mask out
    expected = {which: beta * paper_norm_stabilizer(np.stack(values, axis=1), lengths)
                for which, values in (("hidden", hidden), ("logits", logits))}
    expected["both"] = expected["hidden"] + expected["logits"]
    for which in expected:
        assert got[which] == pytest.approx(expected[which], rel=1e-4), which


def reversal_pairs(rng, n, low, high, words=20):
    """``n`` random phrases of ``low..high`` words and their reversals."""
    pairs = []
    for _ in range(n):
        phrase = ["w%d" % k for k in rng.randint(0, words, rng.randint(low, high + 1))]
        pairs.append((" ".join(phrase), " ".join(phrase[::-1])))
    return pairs


def reversal_config(corpus, model, length, cell="lstm", model_options=None, **train):
    config = RunConfig()
    config.data.corpus, config.data.format, config.data.tokenizer = str(corpus), "tsv", "classic"
    config.data.vocab_size, config.data.max_src_len, config.data.max_tgt_len = 100, length, length
    config.data.valid_fraction, config.data.test_fraction = 0.05, 0.0
    config.model.model, config.model.cell = model, cell
    config.model.embedding_size, config.model.hidden_size = 32, 64
    config.model.reverse_source = False
    for name, value in (model_options or {}).items():
        setattr(config.model, name, value)
    config.train.batch_size, config.train.buckets, config.train.validate_every = 32, 1, 10 ** 6
    config.train.sample_every, config.train.learning_rate = 0, 0.005
    for name, value in train.items():
        setattr(config.train, name, value)
    return config


def write_corpus(path, pairs):
    path.write_text("".join("%s\t%s\n" % pair for pair in pairs))
    return path


def train_reversal(config, run_dir):
    """Train ``config`` into ``run_dir`` and return the network as training
    left it in memory (to compare with what reloads from the run directory)."""
    trained, start_trainer = [], training.Trainer.__init__

    def start_and_keep(trainer, net, *args, **kwargs):
        trained.append(net)
        start_trainer(trainer, net, *args, **kwargs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training.Trainer, "__init__", start_and_keep)
        train_run(config, run_dir, progress_bar=False, log=lambda line: None)
    return trained[0]


def train_language_model(corpus, length, run_dir):
    """A small, briefly trained language model of a corpus's replies: its
    vocabulary is the corpus's, as anti-LM needs; its quality does not matter."""
    config = reversal_config(corpus, "lm", length, max_steps=40, epochs=100)
    config.model.embedding_size = config.model.hidden_size = 16
    train_run(config, run_dir, progress_bar=False, log=lambda line: None)
    return run_dir


def exact_match(replies, pairs):
    return float(np.mean([r.text == a for r, (_, a) in zip(replies, pairs)]))


def texts(replies):
    return [r.text for r in replies]


def check_decoding(run_dir, trained, pairs, lm_dir):
    """Reload a trained model and check how it decodes ``pairs``' questions.

    After reloading from ``run_dir`` it decodes exactly as the network
    ``trained`` left in memory; beam search (3) finds replies at least as
    likely as greedy decoding's (for at least 95% of the questions, and on
    average), and as often right; anti-LM with lambda 0
    is plain beam search and with lambda 0.5 scores ``log p(T|S) - 0.5 log p(T)``
    (the language model in ``lm_dir``).

    Returns
    -------
    float
        Greedy exact match of the reloaded model.
    """
    config, vocab, net = load_model(run_dir, which="last")
    decoder = Decoder(net, vocab, config, lm=load_model(lm_dir))
    questions = [q for q, _ in pairs]
    beam = DecodeOptions(strategy="beam", beam=3, nbest=3)
    found = decoder.decode(questions, beam)
    expected = Decoder(trained, vocab, config).decode(questions, beam)
    assert [texts(r) for r in found] == [texts(r) for r in expected]
    np.testing.assert_allclose([[r.score for r in replies] for replies in found],
                               [[r.score for r in replies] for replies in expected], atol=1e-5)

    greedy, best = decoder.greedy(questions), [replies[0] for replies in found]
    gains = np.array([b.log_prob - g.log_prob for b, g in zip(best, greedy)])
    # Not a theorem: the greedy reply can fall out of the beam (it did for 3
    # of v1's 100 long reversals, by at most 0.13 nats, at step 10 of 11).
    # Where beam and greedy find the same replies the two sums of float32
    # log-probabilities differ by rounding (-2e-8 on average here): hence 1e-4.
    assert (gains >= -1e-4).mean() >= 0.95 and gains.mean() >= -1e-4, gains
    assert exact_match(best, pairs) >= exact_match(greedy, pairs)

    zero = decoder.decode(questions, DecodeOptions(strategy="beam", beam=3, nbest=3,
                                                   antilm_lambda=0.0, antilm_gamma=3))
    assert [[(r.text, r.score) for r in replies] for replies in zero] == \
        [[(r.text, r.score) for r in replies] for replies in found]
    # gamma past the longest reply: every token and EOS is scored by the LM too.
    max_len = decoder.max_len + 2
    antilm = [r for r in decoder.reply(questions, DecodeOptions(
        strategy="beam", beam=3, antilm_lambda=0.5, antilm_gamma=max_len + 1, max_len=max_len))
        if len(r.tokens) < max_len]
    assert len(antilm) >= 0.9 * len(questions)
    lm_log_probs = decoder.lm.sequence_log_probs([[]] * len(antilm),
                                                 [vocab.encode(r.tokens) for r in antilm])
    np.testing.assert_allclose([r.score for r in antilm],
                               [r.log_prob - 0.5 * lm for r, lm in zip(antilm, lm_log_probs)],
                               atol=1e-3)
    return exact_match(greedy, pairs)


@pytest.fixture(scope="module")
def long_reversal(tmp_path_factory):
    """Attention and v1 trained for the same steps on 8-12 word reversals:
    the test pairs, each model's run directory and network as trained, and
    a language model of the replies."""
    root = tmp_path_factory.mktemp("long")
    rng = np.random.RandomState(0)
    train_pairs, test_pairs = reversal_pairs(rng, 3000, 8, 12), reversal_pairs(rng, 100, 8, 12)
    corpus = write_corpus(root / "long.tsv", train_pairs)
    run_dir = {model: str(root / model) for model in ("v1", "attention")}
    trained = {model: train_reversal(reversal_config(corpus, model, 12, max_steps=450,
                                                     epochs=100), path)
               for model, path in run_dir.items()}
    return {"test_pairs": test_pairs, "run_dir": run_dir, "trained": trained,
            "lm": train_language_model(corpus, 12, str(root / "lm"))}


def test_attention_beats_v1_on_long_reversal(long_reversal):
    """Both also reload, decode with beam search and anti-LM (check_decoding)."""
    scores = {model: check_decoding(long_reversal["run_dir"][model],
                                    long_reversal["trained"][model],
                                    long_reversal["test_pairs"], long_reversal["lm"])
              for model in ("v1", "attention")}
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


@pytest.fixture(scope="module")
def short_reversal(tmp_path_factory):
    """2-3 word reversals: the training corpus, held-out pairs and a
    language model of the replies."""
    root = tmp_path_factory.mktemp("short")
    rng = np.random.RandomState(0)
    train_pairs, test_pairs = reversal_pairs(rng, 1500, 2, 3), reversal_pairs(rng, 50, 2, 3)
    corpus = write_corpus(root / "short.tsv", train_pairs)
    return {"corpus": corpus, "test_pairs": test_pairs,
            "lm": train_language_model(corpus, 3, str(root / "lm"))}


@pytest.mark.parametrize("model, cell, options", [
    ("simple", "lstm", {}), ("v1", "gru", {}), ("v1", "jzs1", {}), ("v1", "jzs2", {}),
    ("v1", "jzs3", {}), ("v1", "irnn", {}),
    ("attention", "gru", dict(bidirectional=False, attention_score="general"))])
def test_every_model_and_cell_learns_short_reversal(short_reversal, tmp_path, model, cell,
                                                    options):
    run_dir = str(tmp_path / "run")
    trained = train_reversal(reversal_config(short_reversal["corpus"], model, 3, cell, options,
                                             max_steps=250, epochs=100), run_dir)
    score = check_decoding(run_dir, trained, short_reversal["test_pairs"], short_reversal["lm"])
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
