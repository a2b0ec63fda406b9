"""Decoding: greedy, beam search, sampling, anti-LM, MMI-bidi, averaged states
and conversations, on small models trained here on the phrase-reversal toy task;
MMI-bidi with a backward model trained on reversed pairs of phrase rotations."""
import io
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.models.registry import load_model
from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.data.corpora import load_conversations, make_pairs
from lasagne_seq2seq.decode.options import DecodeOptions
from lasagne_seq2seq.decode.decoder import Decoder, load_decoder
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.train.run import train_run
from lasagne_seq2seq.data.toy import write_toy_task
from lasagne_seq2seq.data.vocab import Vocabulary

BIN = Path(__file__).resolve().parents[1] / "bin"


@pytest.fixture(scope="module")
def reversal(tmp_path_factory):
    """Train and test files of phrase reversal over the original's vocabulary
    size (the toy list's 4,900 words): 2,000 pairs see only some of them."""
    return write_toy_task(tmp_path_factory.mktemp("reversal"), "reversed_phrases",
                          train_pairs=2000, test_pairs=50, vocab_size=4900)


def tiny_config(corpus, model="v1"):
    """A few-second run on 2,000 pairs of the reversed-phrases task: good
    enough to be peaked but not perfect, so the strategies can disagree."""
    config = RunConfig()
    config.data.corpus = str(corpus)
    config.data.format, config.data.pairing, config.data.tokenizer = "plain", "alternate", "classic"
    config.data.max_src_len = config.data.max_tgt_len = 5
    config.data.valid_fraction, config.data.test_fraction = 0.05, 0.0
    config.data.max_pairs = 2000
    config.model.model, config.model.embedding_size, config.model.hidden_size = model, 16, 32
    config.train.batch_size, config.train.buckets, config.train.validate_every = 32, 1, 100
    config.train.sample_every, config.train.epochs, config.train.learning_rate = 0, 3, 0.01
    return config


@pytest.fixture(scope="module")
def runs(reversal, tmp_path_factory):
    """A v1 model and a language model of its replies, trained once."""
    root = tmp_path_factory.mktemp("decoding")
    paths = {}
    for name in ("v1", "lm"):
        paths[name] = str(root / name)
        train_run(tiny_config(reversal[0], name), paths[name], progress_bar=False,
                  log=lambda line: None)
    return paths


@pytest.fixture(scope="module")
def decoder(runs):
    """The v1 model with the LM."""
    config, vocab, net = load_model(runs["v1"])
    return Decoder(net, vocab, config, lm=load_model(runs["lm"]))


@pytest.fixture(scope="module")
def questions(reversal):
    pairs = make_pairs(load_conversations(reversal[1], fmt="plain"), mode="alternate")
    return [q for q, _ in pairs] + ["what is the meaning of life?", "hi"]


def rotations(count, seed):
    """Random 3-word phrases over 20 words, each with its rotation (the first
    word moved to the end) as the reply. Unlike reversal, the map is not its
    own inverse: a model of p(S|T) must learn the other direction."""
    rng = np.random.RandomState(seed)
    phrases = [["w%d" % k for k in rng.randint(0, 20, 3)] for _ in range(count)]
    return [(" ".join(p), " ".join(p[1:] + p[:1])) for p in phrases]


@pytest.fixture(scope="module")
def rotation(tmp_path_factory):
    """A forward model of rotations and its backward model, trained on the
    same pairs with reverse_pairs (``bin/train.py --reverse``)."""
    root = tmp_path_factory.mktemp("rotation")
    corpus = root / "rotation.tsv"
    corpus.write_text("".join("%s\t%s\n" % pair for pair in rotations(2000, seed=0)))
    paths = {}
    for name, reverse in (("forward", False), ("backward", True)):
        config = tiny_config(corpus)
        config.data.format = "tsv"
        config.data.reverse_pairs = reverse
        paths[name] = str(root / name)
        train_run(config, paths[name], progress_bar=False, log=lambda line: None)
    return paths


def texts(replies):
    return [r.text for r in replies]


def test_beam_of_one_is_greedy(decoder, questions):
    greedy = decoder.greedy(questions)
    beam = decoder.reply(questions, DecodeOptions(strategy="beam", beam=1))
    assert texts(beam) == texts(greedy)
    np.testing.assert_allclose([r.log_prob for r in beam], [r.log_prob for r in greedy], atol=1e-4)


def test_beam_search_never_scores_below_greedy(decoder, questions):
    greedy = decoder.greedy(questions)
    beam = decoder.reply(questions, DecodeOptions(strategy="beam", beam=10))
    gains = np.array([b.log_prob - g.log_prob for b, g in zip(beam, greedy)])
    assert (gains >= -1e-4).all()
    assert np.array([b.score for b in beam]) == pytest.approx([b.log_prob for b in beam])


def test_nbest_is_sorted_distinct_and_complete(decoder, questions):
    found = decoder.decode(questions, DecodeOptions(strategy="beam", beam=6, nbest=4, alpha=0.7))
    for replies in found:
        assert len(replies) == 4
        scores = [r.score for r in replies]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(r.tokens) for r in replies}) == 4
        for r in replies:  # alpha: score = log_prob / length**alpha, EOS counted
            length = len(r.tokens) + 1 if len(r.tokens) < decoder.max_len else len(r.tokens)
            assert r.score == pytest.approx(r.log_prob / length ** 0.7, abs=1e-4)


def test_batched_beam_search_equals_one_question_at_a_time(decoder, questions):
    options = DecodeOptions(strategy="beam", beam=4, nbest=2)
    batched = decoder.decode(questions[:6], options)
    alone = [decoder.decode([q], options)[0] for q in questions[:6]]
    assert [texts(r) for r in batched] == [texts(r) for r in alone]


def test_cold_sampling_and_narrow_filters_are_greedy(decoder, questions):
    greedy = texts(decoder.greedy(questions))
    for options in (DecodeOptions(strategy="sample", temperature=1e-6, seed=0),
                    DecodeOptions(strategy="sample", temperature=5.0, top_k=1, seed=0),
                    DecodeOptions(strategy="sample", temperature=5.0, top_p=1e-6, seed=0)):
        assert texts(decoder.reply(questions, options)) == greedy


def test_hot_sampling_is_seeded_and_varied(decoder, questions):
    hot = dict(strategy="sample", temperature=3.0)
    first = texts(decoder.reply(questions, DecodeOptions(seed=1, **hot)))
    assert first == texts(decoder.reply(questions, DecodeOptions(seed=1, **hot)))
    assert first != texts(decoder.reply(questions, DecodeOptions(seed=2, **hot)))
    assert first != texts(decoder.greedy(questions))
    found = decoder.decode(questions, DecodeOptions(seed=1, nbest=5, **hot))
    for replies in found:
        assert 1 <= len(replies) <= 5 and len({r.text for r in replies}) == len(replies)


def test_a_questions_sampled_replies_do_not_depend_on_its_batch(decoder, questions):
    """Each question draws from its own seeded stream: alone, in another order
    or beside other questions (the server's batcher), the same replies."""
    hot = DecodeOptions(strategy="sample", temperature=3.0, seed=1, nbest=3)

    def replies(batch):
        return {q: texts(found) for q, found in zip(batch, decoder.decode(batch, hot))}
    together = replies(questions)
    assert len(set(map(tuple, together.values()))) > 1
    assert replies(questions[::-1]) == together
    for question in questions[:3]:
        assert replies([question]) == {question: together[question]}


def test_unseeded_sampling_draws_anew_for_the_same_question_in_one_batch(decoder, questions):
    hot = DecodeOptions(strategy="sample", temperature=3.0)
    replies = texts(decoder.reply([questions[0]] * 8, hot))
    assert len(set(replies)) > 1


def test_antilm_with_lambda_zero_is_plain_beam_search(decoder, questions):
    plain = decoder.decode(questions, DecodeOptions(strategy="beam", beam=5, nbest=3))
    zero = decoder.decode(questions, DecodeOptions(strategy="beam", beam=5, nbest=3,
                                                   antilm_lambda=0.0, antilm_gamma=3))
    assert [texts(r) for r in zero] == [texts(r) for r in plain]


def test_antilm_score_subtracts_the_language_model(decoder, questions):
    """With gamma past the longest reply: score = log p(T|S) - lambda log p(T)."""
    options = DecodeOptions(strategy="beam", beam=5, antilm_lambda=0.5, antilm_gamma=10)
    everything = decoder.reply(questions, options)
    assert texts(everything) != texts(
        decoder.reply(questions, DecodeOptions(strategy="beam", beam=5)))
    replies = [r for r in everything if len(r.tokens) < decoder.max_len]  # EOS scored, as by the LM
    lm_log_probs = decoder.lm.sequence_log_probs(
        [[]] * len(replies), [decoder.vocab.encode(r.tokens) for r in replies])
    expected = [r.log_prob - 0.5 * lm for r, lm in zip(replies, lm_log_probs)]
    assert [r.score for r in replies] == pytest.approx(expected, abs=1e-3)


def test_backward_model_maps_replies_back_to_their_questions(rotation):
    pairs = rotations(50, seed=1)
    sources, replies = [q for q, _ in pairs], [r for _, r in pairs]
    backward, forward = (load_decoder(rotation[name]) for name in ("backward", "forward"))
    recovered = np.mean([r.text == q for r, q in zip(backward.greedy(replies), sources)])
    # The forward model rotates the reply once more: what a backward run
    # that ignored reverse_pairs would do.
    rotated_again = np.mean([r.text == q for r, q in zip(forward.greedy(replies), sources)])
    assert recovered >= 0.7 and rotated_again <= 0.1, (recovered, rotated_again)  # 0.86, 0


def test_mmi_bidi_reranks_by_the_backward_score(rotation):
    decoder = load_decoder(rotation["forward"], backward_dir=rotation["backward"])
    sources = [q for q, _ in rotations(10, seed=1)]
    plain = decoder.decode(sources, DecodeOptions(strategy="beam", beam=5, nbest=5))
    reranked = decoder.decode(sources, DecodeOptions(strategy="beam", beam=5, nbest=5,
                                                     mmi_bidi_lambda=2.0))
    ids, _ = decoder.question_ids(sources)
    for q, (before, after) in enumerate(zip(plain, reranked)):
        assert sorted(texts(before)) == sorted(texts(after))  # same list, new order
        backward = decoder.backward.sequence_log_probs(
            [decoder.vocab.encode(r.tokens) for r in after], [ids[q]] * len(after))
        by_text = {r.text: r.score for r in before}
        assert [r.score for r in after] == pytest.approx(
            [by_text[r.text] + 2.0 * b for r, b in zip(after, backward)], abs=1e-3)
        assert [r.score for r in after] == sorted((r.score for r in after), reverse=True)
    assert [texts(r) for r in reranked] != [texts(r) for r in plain]


def test_ngram_blocking_and_max_len_hold_for_every_candidate(decoder, questions):
    options = DecodeOptions(strategy="beam", beam=5, nbest=5, block_ngram=1, max_len=3)
    for replies in decoder.decode(questions, options):
        for r in replies:
            assert len(r.tokens) <= 3 and len(set(r.tokens)) == len(r.tokens)


def test_averaged_states_change_the_decoder_input(decoder, questions):
    greedy = decoder.greedy(questions)
    averaged = decoder.reply(questions, DecodeOptions(average_states=0.5))
    assert [r.log_prob for r in averaged] != pytest.approx([r.log_prob for r in greedy])


@pytest.mark.parametrize("values, flag", [
    (dict(strategy="beam", beam=0), "--beam"),
    (dict(strategy="beam", beam=3, nbest=4), "--nbest"),
    (dict(nbest=2), "--nbest"),
    (dict(strategy="sample", temperature=0.0), "--temperature"),
    (dict(strategy="sample", top_p=0.0), "--top-p"),
    (dict(strategy="sample", top_k=-1), "--top-k"),
    (dict(strategy="viterbi"), "--strategy"),
    (dict(antilm_lambda=0.5), "--lm"),
    (dict(strategy="beam", mmi_bidi_lambda=0.5), "--backward"),
    (dict(average_states=1.5), "--average-states"),
    (dict(block_ngram=-1), "--block-ngram"),
])
def test_invalid_options_name_their_flag(values, flag):
    with pytest.raises(Seq2SeqError, match=flag):
        DecodeOptions(**values).validate()


def test_options_from_json_reject_unknown_keys_and_wrong_types():
    assert DecodeOptions.from_dict({"strategy": "beam", "alpha": 1, "seed": None}).alpha == 1
    for values, message in (({"beams": 2}, "unknown decoding option beams"),
                            ({"beam": "2"}, "beam must be int"),
                            ({"beam": True}, "beam must be int"),
                            ({"top_p": "high"}, "top_p must be float or int"),
                            (["beam"], "JSON object")):
        with pytest.raises(Seq2SeqError, match=message):
            DecodeOptions.from_dict(values)


def test_the_scripts_default_decoding_gives_way_to_a_named_strategy():
    from lasagne_seq2seq.decode.options import DEFAULT_DECODING, STRATEGY_NAMES
    assert DecodeOptions.from_dict({}) == DecodeOptions(**DEFAULT_DECODING).validate()
    default = DEFAULT_DECODING["strategy"]
    # Its settings stay when its own strategy is named, or only a setting is changed...
    named = DecodeOptions.from_dict({"strategy": default, "nbest": 1})
    assert named == DecodeOptions(**DEFAULT_DECODING)
    # ...and another strategy starts from the dataclass's values.
    for strategy in set(STRATEGY_NAMES) - {default}:
        assert DecodeOptions.from_dict({"strategy": strategy}) == DecodeOptions(strategy=strategy)
    if default == "beam":
        assert DecodeOptions.from_dict({"beam": 5}) == DecodeOptions(**dict(DEFAULT_DECODING,
                                                                             beam=5))


def test_decoder_rejects_a_helper_with_another_vocabulary(runs):
    config, vocab, net = load_model(runs["v1"])
    other = Vocabulary(vocab.tokens[:-1])
    with pytest.raises(Seq2SeqError, match="language model.*differs"):
        Decoder(net, vocab, config, lm=(config, other, net))
    with pytest.raises(Seq2SeqError, match="--lm .* not a language model"):
        load_decoder(runs["v1"], lm_dir=runs["v1"])
    with pytest.raises(Seq2SeqError, match="--reverse"):
        load_decoder(runs["v1"], backward_dir=runs["v1"])


def test_conversation_without_memory_is_stateless(decoder, questions):
    chat = decoder.start_conversation()
    options = DecodeOptions(strategy="beam", beam=3)
    first = [chat.reply(q, options).text for q in questions[:3]]
    assert first == texts(decoder.reply(questions[:3], options))
    if not hasattr(decoder.net, "compile_memory_encoder"):
        with pytest.raises(Seq2SeqError, match="--remember"):
            decoder.start_conversation(remember=True)


def test_conversation_memory_carries_and_resets(decoder, questions):
    chat = decoder.start_conversation(remember=True)
    first = chat.reply(questions[0])
    later = [chat.reply(questions[0]) for _ in range(3)]
    assert any(r.log_prob != pytest.approx(first.log_prob) for r in later)
    chat.reset()
    assert chat.reply(questions[0]).log_prob == pytest.approx(first.log_prob)


def test_script_prints_nbest_and_chats_with_reset(runs, capsys, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location("test_script", BIN / "test.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([runs["v1"], "--strategy", "beam", "--nbest", "3", "--beam", "4",
                        "--lm", runs["lm"], "--antilm-lambda", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n    1. ") == printed.count("\n    3. ") > 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a b c\n/reset\nc b a\n/quit\nnever read\n"))
    assert script.main([runs["v1"], "--interactive", "--strategy", "beam", "--beam", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("bot> ") == 2 and "(conversation reset)" in printed
