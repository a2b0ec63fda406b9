"""The JAX back end (``--backend jax``) computes what the C back end does: for
v1, v2, attention and a GRU, the loss and every gradient of one batch within
1e-4 relative; training steps (fused Adam, clipping) the same losses, ten
with dropout and fifty of the Trainer's own step; sampled softmax the same
loss and gradients; greedy decoding the same replies, beam search the same
n-best replies and scores; dropout's random streams the same numbers;
``theano.scan`` (``--no-unroll``) the same values and gradients, every kind
of loop state included; the rest of the family (simple, lm, the JZS cells,
IRNN) the same loss and gradients. Tiny shapes (hidden 16, embedding 8,
vocabulary 40). Needs jax: ``bash setup.sh --with-jax``; skipped with that reason where
it is absent."""
import importlib.util

import numpy as np
import pytest

from lasagne_seq2seq.backend.modes import compile_mode, select_backend, using_backend
from lasagne_seq2seq.config import ModelConfig, RunConfig
from lasagne_seq2seq.data.batches import Dataset, EncodedPairs, iterate_batches
from lasagne_seq2seq.data.vocab import SPECIALS, Vocabulary
from lasagne_seq2seq.errors import Seq2SeqError
from toy import tiny_batch

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed: bash setup.sh --with-jax")

VOCAB, EOS = 40, 2
MODELS = {"v1": dict(model="v1"), "v2": dict(model="v2"), "attention": dict(model="attention"),
          "gru": dict(model="v1", cell="gru")}




def vocabulary():
    return Vocabulary(list(SPECIALS) + ["w%d" % i for i in range(VOCAB - len(SPECIALS))])


def network(name, **options):
    """A tiny network of the family, initialised (and its dropout streams
    seeded) alike on every call: each run compares the same numbers.
    Unseeded, some starts left the attention's ``W_query`` gradient at 1e-6,
    where float32 rounding is 2e-4 of it."""
    import lasagne
    from lasagne_seq2seq.models.registry import build_network
    lasagne.random.set_rng(np.random.RandomState(0))
    return build_network(ModelConfig(embedding_size=8, hidden_size=16,
                                     **dict(MODELS[name], **options)), VOCAB)


def loss_graph(net, arrays, deterministic=True, candidates=None):
    """The batch's symbolic inputs and loss, unrolled to its lengths as the trainer does."""
    import theano.tensor as T
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    terms = net.loss_terms(*variables, deterministic=deterministic, candidates=candidates,
                           n_src_steps=arrays[0].shape[1], n_tgt_steps=arrays[2].shape[1])
    return variables, terms.loss


def on_both_backends(compute):
    """``compute()`` with each back end selected: ``{"c": ..., "jax": ...}``."""
    results = {}
    for backend in ("c", "jax"):
        with using_backend(backend):
            results[backend] = compute()
    return results


def assert_close(expected, got, rtol=1e-4):
    """Equal within ``rtol`` of the array's largest magnitude."""
    expected, got = np.asarray(expected), np.asarray(got)
    assert expected.shape == got.shape
    scale = max(float(np.abs(expected).max()), 1e-12)
    assert float(np.abs(expected - got).max()) <= rtol * scale


def assert_the_back_ends_agree(inputs, outputs, values):
    """``theano.function(inputs, outputs)`` on ``values`` gives the same
    arrays, within :func:`assert_close`, on both back ends."""
    import theano
    results = on_both_backends(lambda: theano.function(
        inputs, outputs, mode=compile_mode(), on_unused_input="ignore")(*values))
    assert len(results["jax"]) == len(outputs)
    for expected, got in zip(results["c"], results["jax"]):
        assert_close(expected, got)


def test_jax_without_jax_is_a_one_line_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "jax" else real(name, *args))
    with pytest.raises(Seq2SeqError, match=r"^--backend jax needs jax: bash setup.sh --with-jax"):
        select_backend("jax")
    assert compile_mode() is None
    with pytest.raises(Seq2SeqError, match="--backend tpu: choose among c, jax"):
        select_backend("tpu")


@needs_jax
@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_loss_and_every_gradient_equal_the_c_back_ends(name):
    import theano
    net, arrays = network(name), tiny_batch(VOCAB)
    variables, loss = loss_graph(net, arrays)
    outputs = [loss] + theano.grad(loss, net.params)
    assert_the_back_ends_agree(variables, outputs, arrays)


@needs_jax
@pytest.mark.parametrize("options", [
    dict(model="simple"), dict(model="lm"), dict(cell="jzs1"), dict(cell="jzs2"),
    dict(cell="jzs3"), dict(cell="irnn")], ids=lambda options: "-".join(options.values()))
def test_the_rest_of_the_familys_loss_and_gradients_equal_the_c_back_ends(options):
    """The other architectures and cells of the registries, unrolled."""
    import theano
    net, arrays = network("v1", **options), tiny_batch(VOCAB)
    variables, loss = loss_graph(net, arrays)
    assert_the_back_ends_agree(variables, [loss] + theano.grad(loss, net.params), arrays)


@needs_jax
def test_sampled_softmax_loss_and_gradients_equal_the_c_back_ends():
    """Theano rewrites sampled softmax's cross-entropy into its fused
    CrossentropySoftmaxArgmax1HotWithBias and ...Dx ops (compat item 8)."""
    import theano
    net, arrays = network("v1"), tiny_batch(VOCAB)
    # 5 and 7 are targets of the batch too: accidental hits, removed.
    candidates = theano.shared(np.array([5, 7, 9, 11, 30, 2], np.int32))
    variables, loss = loss_graph(net, arrays, candidates=candidates)
    outputs = [loss] + theano.grad(loss, net.params)
    assert_the_back_ends_agree(variables, outputs, arrays)


@needs_jax
@pytest.mark.parametrize("name", ["v1", "attention"])
def test_training_steps_give_the_same_losses(name):
    """Ten steps of clipped Adam (the fused SumOfSquares and AdamStep ops) and dropout."""
    import theano
    from lasagne_seq2seq.train.optimizers import clipped_updates
    arrays = tiny_batch(VOCAB)

    def train():
        net = network(name, dropout=0.2)
        variables, loss = loss_graph(net, arrays, deterministic=False)
        updates, norm = clipped_updates(theano.grad(loss, net.params), net.params,
                                        learning_rate=0.01, max_norm=1.0)
        step = theano.function(variables, [loss, norm], updates=updates, mode=compile_mode(),
                               on_unused_input="ignore")
        return np.array([step(*arrays) for _ in range(10)])
    losses = on_both_backends(train)
    assert losses["c"][-1, 0] < losses["c"][0, 0]  # it learns
    assert_close(losses["c"], losses["jax"])


def trainer(net, tmp_path, **train):
    """A :class:`~lasagne_seq2seq.train.trainer.Trainer` of ``net`` on no data
    (the tests feed its compiled steps), with ``train`` settings."""
    from lasagne_seq2seq.rundir import RunDir
    from lasagne_seq2seq.train.trainer import Trainer
    config = RunConfig()
    vars(config.train).update(train)
    empty = EncodedPairs()
    return Trainer(net, Dataset(vocabulary(), empty, empty, empty, {}), config,
                   RunDir(str(tmp_path)), log=lambda line: None)


@needs_jax
def test_fifty_steps_of_the_trainer_give_the_same_losses(tmp_path):
    """The Trainer's compiled step (Adam, clipping, dropout) on four batches
    in turn. float32 rounding differs between the back ends (XLA's pairwise
    sums, fused products) by ~1e-7 relative per operation; Adam divides each
    gradient by its running norm, so these differences compound over the
    steps: measured, within 1.3e-6 of the largest loss after ten steps and
    2.1e-6 after fifty. 1e-4 leaves room for other BLAS builds and CPUs, and
    a wrong gradient still fails: it moves every loss from the second on by
    far more."""
    rng = np.random.RandomState(5)
    pairs = EncodedPairs([rng.randint(4, VOCAB, rng.randint(1, 5)).astype("int32")
                          for _ in range(16)],
                         [rng.randint(4, VOCAB, rng.randint(1, 5)).astype("int32")
                          for _ in range(16)])
    batches = list(iterate_batches(pairs, 4, buckets=[(4, 4)]))

    def train():
        net = network("v1", dropout=0.2)
        step = trainer(net, tmp_path, learning_rate=0.01).train_function((4, 5))
        return np.array([step(b.src, b.src_mask, b.tgt_in, b.tgt_out, b.tgt_mask)[0]
                         for b in (batches * 13)[:50]])
    losses = on_both_backends(train)
    assert losses["c"][-4:].sum() < 0.8 * losses["c"][:4].sum()  # it learns
    assert_close(losses["c"], losses["jax"])


@needs_jax
def test_every_kind_of_scan_state_and_its_gradient_equal_the_c_back_ends():
    """A scan with a sequence, a two-tap state (``mit_sot``), a one-tap state
    (``sit_sot``), a per-step output (``nit_sot``) and a non-sequence; its
    full histories, the last states alone (Theano's memory-saving rewrite
    shortens those buffers) and its gradient (``mit_mot`` states)."""
    import theano
    import theano.tensor as T
    xs, w = T.matrix(), T.vector()

    def step(x, a2, a1, s, w):
        a = T.tanh(a1 * w + 0.5 * a2 + x)
        return a, s + a * x, (a * s).sum()
    (a, s, y), _ = theano.scan(step, sequences=[xs], non_sequences=[w], outputs_info=[
        dict(initial=T.zeros((2, 3)) + 0.1, taps=[-2, -1]), T.ones((3,)), None])
    loss = (a ** 2).sum() + s[-1].sum() + y.sum()
    outputs = [a, s, y, a[-1], s[-1], loss] + theano.grad(loss, [xs, w])
    rng = np.random.RandomState(3)
    values = rng.randn(6, 3).astype("float32"), rng.randn(3).astype("float32")
    assert_the_back_ends_agree([xs, w], outputs, values)


@needs_jax
def test_products_of_a_transposed_matrix_equal_the_c_back_ends():
    """compat hands ``dot(h, E.T)`` (a tied output layer) to XLA as one
    product contracting E's other axis; both operand positions, one row and
    several, and a transpose also used elsewhere."""
    import theano.tensor as T
    h, E = T.matrix(), T.matrix()
    outputs = [T.dot(h, E.T), T.dot(E, h.T), T.dot(E.T, E), T.dot(h.T, h), (E.T * 2).sum()]
    rng = np.random.RandomState(4)
    for rows in (1, 5):
        values = rng.randn(rows, 6).astype("float32"), rng.randn(9, 6).astype("float32")
        assert_the_back_ends_agree([h, E], outputs, values)


@needs_jax
def test_a_shared_variables_new_value_is_seen():
    """The JAX thunk keeps a device copy of each shared value: a new value
    (set_value, or an update of another function) replaces it."""
    import theano
    w = theano.shared(np.ones(4, "float32"))
    with using_backend("jax"):
        double = theano.function([], 2 * w, mode=compile_mode())
        increment = theano.function([], [], updates=[(w, w + 1)], mode=compile_mode())
    np.testing.assert_array_equal(double(), 2)
    w.set_value(np.full(4, 3, "float32"))
    np.testing.assert_array_equal(double(), 6)
    increment()
    increment()
    np.testing.assert_array_equal(double(), 10)
    w.set_value(np.arange(4, dtype="float32"), borrow=True)
    np.testing.assert_array_equal(double(), [0, 2, 4, 6])


@needs_jax
@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_scanned_loss_and_every_gradient_equal_the_c_back_ends(name):
    """``--no-unroll``: the loops are theano.scan (the LSTM's is its fused op)."""
    import theano
    import theano.tensor as T
    net, arrays = network(name), tiny_batch(VOCAB)
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    loss = net.loss_terms(*variables, deterministic=True).loss
    outputs = [loss] + theano.grad(loss, net.params)
    assert_the_back_ends_agree(variables, outputs, arrays)


@needs_jax
def test_training_with_no_unroll_gives_the_same_losses(tmp_path):
    """The Trainer's one scanned step for every length (a GRU: scan, not the
    fused LSTM op), on batches of two shapes, with dropout."""
    rng = np.random.RandomState(7)
    lengths = [2, 2, 2, 2, 5, 5, 5, 5]
    pairs = EncodedPairs([rng.randint(4, VOCAB, n).astype("int32") for n in lengths],
                         [rng.randint(4, VOCAB, n).astype("int32") for n in lengths[::-1]])
    batches = list(iterate_batches(pairs, 4))
    assert len({b.src.shape for b in batches}) == 2

    def train():
        net = network("gru", dropout=0.2)
        step = trainer(net, tmp_path, learning_rate=0.01, unroll=False).train_function(None)
        return np.array([step(b.src, b.src_mask, b.tgt_in, b.tgt_out, b.tgt_mask)[0]
                         for b in batches * 5])
    losses = on_both_backends(train)
    assert losses["c"][-2:].sum() < losses["c"][:2].sum()  # it learns
    assert_close(losses["c"], losses["jax"])


def greedy_replies(net, src, src_mask, steps=6):
    """Each row's argmax reply, step by step through the compiled decoder."""
    encode, step = net.compile_decoder()
    state, *extras = encode(src, src_mask)
    previous = np.full(len(src), EOS, "int32")
    replies = []
    for _ in range(steps):
        log_probs, state = step(previous, state, *extras)[:2]
        previous = log_probs.argmax(axis=1).astype("int32")
        replies.append(previous)
    return np.stack(replies, axis=1), log_probs


@needs_jax
@pytest.mark.parametrize("name", sorted(MODELS))
def test_greedy_decoding_gives_the_same_replies(name):
    net, arrays = network(name), tiny_batch(VOCAB)
    results = on_both_backends(lambda: greedy_replies(net, *arrays[:2]))
    np.testing.assert_array_equal(results["c"][0], results["jax"][0])
    assert_close(results["c"][1], results["jax"][1])


@needs_jax
@pytest.mark.parametrize("name", ["v1", "attention"])
def test_beam_search_gives_the_same_replies_and_scores(name):
    """Beam 3, three best replies to each of three questions, through the Decoder."""
    from lasagne_seq2seq.decode.decoder import Decoder
    from lasagne_seq2seq.decode.options import DecodeOptions
    net, config = network(name), RunConfig()
    config.data.max_src_len = config.data.max_tgt_len = 6
    questions = ["w5 w9 w12", "w30 w1", "w7 w7 w20 w3"]

    def beam():
        found = Decoder(net, vocabulary(), config).decode(
            questions, DecodeOptions(strategy="beam", beam=3, nbest=3))
        return [[(reply.tokens, reply.score, reply.log_prob) for reply in replies]
                for replies in found]
    results = on_both_backends(beam)
    assert [len(replies) for replies in results["c"]] == [3, 3, 3]
    for expected, got in zip(results["c"], results["jax"]):
        assert [tokens for tokens, *_ in expected] == [tokens for tokens, *_ in got]
        assert_close([scores for _, *scores in expected], [scores for _, *scores in got])


@needs_jax
@pytest.mark.parametrize("strategy", ["sample", "antilm", "mmi_bidi"])
def test_sampling_anti_lm_and_mmi_bidi_give_the_same_replies(strategy):
    """Seeded top-p sampling; beam 3 with an anti-LM (a tiny ``--model lm``
    network); beam 3 reranked by a backward model (MMI-bidi)."""
    from lasagne_seq2seq.decode.decoder import Decoder
    from lasagne_seq2seq.decode.options import DecodeOptions
    config = RunConfig()
    config.data.max_src_len = config.data.max_tgt_len = 6
    questions = ["w5 w9 w12", "w30 w1", "w7 w7 w20 w3"]
    helpers, options = {}, {
        "sample": DecodeOptions(strategy="sample", temperature=1.5, top_p=0.95, seed=3),
        "antilm": DecodeOptions(strategy="beam", beam=3, nbest=3, antilm_lambda=0.5),
        "mmi_bidi": DecodeOptions(strategy="beam", beam=3, nbest=3, mmi_bidi_lambda=1.0)}
    if strategy == "antilm":
        helpers["lm"] = (config, vocabulary(), network("v1", model="lm"))
    if strategy == "mmi_bidi":
        helpers["backward"] = (config, vocabulary(), network("attention"))
    net = network("v1")

    def decode():
        found = Decoder(net, vocabulary(), config, **helpers).decode(questions,
                                                                    options[strategy])
        return [[(reply.tokens, reply.score) for reply in replies] for replies in found]
    results = on_both_backends(decode)
    assert len({tuple(tokens) for replies in results["c"] for tokens, _ in replies}) > 1
    for expected, got in zip(results["c"], results["jax"]):
        assert [tokens for tokens, _ in expected] == [tokens for tokens, _ in got]
        assert_close([score for _, score in expected], [score for _, score in got])


@needs_jax
def test_a_multi_turn_models_loss_and_gradients_equal_the_c_back_ends():
    """``--remember-state``: the encoder starts from the last exchange's state
    (the memory input) and returns its new one."""
    import theano
    import theano.tensor as T
    net, arrays = network("v1", remember_state=True), tiny_batch(VOCAB)
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    memory = T.matrix()
    terms = net.loss_terms(*variables, deterministic=True, memory=memory,
                           n_src_steps=arrays[0].shape[1], n_tgt_steps=arrays[2].shape[1])
    outputs = [terms.loss, terms.new_memory] + theano.grad(terms.loss, net.params + [memory])
    state = np.random.RandomState(2).randn(len(arrays[0]), net.memory_size).astype("float32")
    assert_the_back_ends_agree(variables + [memory], outputs, list(arrays) + [state])


@needs_jax
def test_dropout_streams_draw_the_same_numbers():
    import theano
    from theano.sandbox.rng_mrg import MRG_RandomStream

    def draws():
        sample = MRG_RandomStream(123).uniform((5000,))
        f = theano.function([], sample, mode=compile_mode())
        return f(), f()  # the second call checks the advanced state
    results = on_both_backends(draws)
    for expected, got in zip(results["c"], results["jax"]):
        np.testing.assert_array_equal(expected, got)
