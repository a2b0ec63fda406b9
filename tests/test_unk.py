"""``<unk>`` never in a reply unless asked for (every strategy, the server, the
chat), and never a match in the reply metrics (issue 17 items 1 and 5)."""
import io

import numpy as np
import pytest

from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.data.vocab import EOS_ID, SPECIALS, UNK, UNK_ID, Vocabulary
from lasagne_seq2seq.decode.decoder import Decoder
from lasagne_seq2seq.decode.options import DecodeOptions
from lasagne_seq2seq.models.registry import build_network

WORDS = ["hi", "there", "you"]


def unk_loving(model, unk_bias):
    """``(config, vocab, net)``: an untrained network (hidden 16, embedding 8)
    whose output bias makes ``<unk>`` its favourite token by far (``unk_bias``
    above the rest), then ``hi``, then EOS."""
    config = RunConfig()
    config.model.model, config.model.embedding_size, config.model.hidden_size = model, 8, 16
    vocab = Vocabulary(list(SPECIALS) + WORDS)
    net = build_network(config.model, len(vocab))
    values = net.param_values()
    bias = np.zeros_like(values["output.b"])
    bias[UNK_ID], bias[4], bias[EOS_ID] = unk_bias, 10.0, 9.0
    values["output.b"] = bias
    net.set_param_values(values)
    return config, vocab, net


@pytest.fixture(scope="module")
def decoder():
    """The unk-loving model, with an LM that dislikes ``<unk>`` (so that anti-LM
    favours it even more) and itself as the backward model of MMI-bidi."""
    config, vocab, net = unk_loving("v1", 50.0)
    return Decoder(net, vocab, config, max_len=4, lm=unk_loving("lm", -50.0),
                   backward=(config, vocab, net))


STRATEGIES = {
    "greedy": {},
    "beam": {"strategy": "beam", "beam": 3, "nbest": 3},
    "beam, blocked 2-grams, alpha 1": {"strategy": "beam", "beam": 3, "block_ngram": 2,
                                       "alpha": 1.0},
    "sample": {"strategy": "sample", "nbest": 3, "seed": 0},
    "top-p sample": {"strategy": "sample", "top_p": 0.5, "seed": 1},
    "anti-LM greedy": {"antilm_lambda": 0.5},
    "anti-LM beam": {"strategy": "beam", "beam": 3, "antilm_lambda": 0.5},
    "MMI-bidi": {"strategy": "sample", "beam": 4, "mmi_bidi_lambda": 0.5, "seed": 2},
    "averaged states": {"average_states": 0.5},
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_no_strategy_emits_unk_unless_allowed(decoder, name):
    questions = ["hi there", "a zebra"]
    masked = DecodeOptions.from_dict(STRATEGIES[name])
    for replies in decoder.decode(questions, masked):
        for reply in replies:
            assert UNK not in reply.tokens, (name, reply.tokens)
    allowed = DecodeOptions.from_dict(dict(STRATEGIES[name], allow_unk=True))
    assert any(UNK in reply.tokens for replies in decoder.decode(questions, allowed)
               for reply in replies), name


def test_unknown_question_words_are_still_reported(decoder):
    reply = decoder.reply(["hi zebra"])[0]
    assert reply.unknown == ["zebra"] and UNK not in reply.tokens


def test_allow_unk_is_a_flag_and_a_request_option():
    import argparse
    from lasagne_seq2seq.cli import add_flags, decode_options
    from lasagne_seq2seq.serve.http import ServingLimits, parse_request
    parser = argparse.ArgumentParser()
    add_flags(parser, DecodeOptions)
    assert decode_options(parser.parse_args([])).allow_unk is False
    assert decode_options(parser.parse_args(["--allow-unk"])).allow_unk is True
    assert parse_request(b'{"text": "hi"}', ServingLimits())[1].allow_unk is False
    assert parse_request(b'{"text": "hi", "allow_unk": true}', ServingLimits())[1].allow_unk


def test_server_and_chat_replies_hold_no_unk(decoder):
    from lasagne_seq2seq.serve.chat import run_chat
    from lasagne_seq2seq.serve.http import BatchingDecoder, ServingLimits, parse_request
    batcher = BatchingDecoder(decoder)
    try:
        for body in (b'{"text": "hi zebra"}', b'{"text": "hi", "strategy": "beam", "beam": 3}'):
            text, options = parse_request(body, ServingLimits())
            assert all(UNK not in reply.tokens for reply in batcher.decode(text, options, 60))
        text, options = parse_request(b'{"text": "hi", "allow_unk": true}', ServingLimits())
        assert UNK in batcher.decode(text, options, 60)[0].tokens
    finally:
        batcher.close()
    out = io.StringIO()
    run_chat(decoder.start_conversation(), DecodeOptions(), io.StringIO("hi zebra\n/quit\n"), out)
    assert "bot> " in out.getvalue() and UNK not in out.getvalue().split("bot> ")[1]


def random_replies(rng, count, words, longest):
    return [[words[k] for k in rng.randint(0, len(words), rng.randint(1, longest + 1))]
            for _ in range(count)]


@pytest.mark.parametrize("longest", [3, 12])
def test_corpus_bleu_is_sacrebleu_on_the_same_tokens(longest):
    import sacrebleu
    from lasagne_seq2seq.evaluation.metrics import corpus_bleu
    rng = np.random.RandomState(longest)
    words = ["w%d" % k for k in range(12)]
    for trial in range(5):
        references = random_replies(rng, 200, words, longest)
        hypotheses = random_replies(rng, 200, words, longest)
        # Some replies copy their reference: higher orders match too.
        hypotheses[::7] = references[::7]
        # The references reach 4-grams when longest is 12; BLEU-3 otherwise.
        bleu = sacrebleu.BLEU(tokenize="none", max_ngram_order=min(longest, 4))
        expected = bleu.corpus_score([" ".join(h) for h in hypotheses],
                                     [[" ".join(r) for r in references]]).score
        assert abs(corpus_bleu(references, hypotheses) - expected) < 1e-3, trial


def test_unk_in_a_reply_never_matches_a_reference():
    import sacrebleu
    from lasagne_seq2seq.evaluation.metrics import corpus_bleu, reply_metrics
    references = [["i", "saw", "a", UNK, "in", "the", "park"], ["what", "a", UNK, "day", "!"]]
    hypotheses = [["i", "saw", "a", UNK, "in", "the", "park"], ["what", "a", UNK, "day", "."]]
    # sacreBLEU with every reply <unk> made a word no reference holds.
    unmatched = [" ".join("\x01" if t == UNK else t for t in h) for h in hypotheses]
    expected = sacrebleu.corpus_bleu(unmatched, [[" ".join(r) for r in references]],
                                     tokenize="none").score
    assert abs(corpus_bleu(references, hypotheses) - expected) < 1e-3
    assert corpus_bleu(references, hypotheses) < 60.0
    assert corpus_bleu(references[:1], references[:1]) < 100.0
    assert reply_metrics(references, hypotheses)["bleu"] == corpus_bleu(references, hypotheses)


def test_bleu_names_its_scale_where_it_is_printed():
    from lasagne_seq2seq.evaluation.evaluate import format_table
    line = next(l for l in format_table({"bleu": 12.5}).splitlines() if "BLEU" in l)
    assert "0-100" in line and "12.50" in line
