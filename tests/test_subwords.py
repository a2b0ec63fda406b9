"""Subword vocabularies (``--vocab unigram`` / ``bpe``, SentencePiece): trained
on the training split, cached, saved beside the run and the export, decoded
back into words, and perplexity per word beside per piece (issue 17 item 2)."""
import json
import os

import pytest

from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.data import batches
from lasagne_seq2seq.data.batches import build_dataset
from lasagne_seq2seq.data.text import tokenize
from lasagne_seq2seq.data.toy import write_toy_task
from lasagne_seq2seq.data.vocab import (SPECIALS, SPM_FILE, SubwordVocabulary, UNK, UNK_ID,
                                        Vocabulary)
from lasagne_seq2seq.errors import Seq2SeqError

SENTENCES = ["i do n't know .", "how are you doing today ?", "i 'm fine , thanks .",
             "what is your name ?", "my name is david .", "nobody knows the trouble"] * 30


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Train and test files of a small phrase-reversal task."""
    return write_toy_task(tmp_path_factory.mktemp("subwords"), "reversed_phrases",
                          train_pairs=600, test_pairs=20, vocab_size=40)


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_pieces_spell_the_words_back_with_the_special_ids_first(model_type):
    vocab = SubwordVocabulary.train(SENTENCES, 60, model_type)
    assert tuple(vocab.tokens[:4]) == SPECIALS and len(vocab) <= 60
    words = tokenize("Nobody knows how you're doing, David.")
    pieces = vocab.segment(words)
    assert len(pieces) > len(words) and UNK not in pieces
    ids = vocab.encode(pieces)
    assert vocab.words(ids) == words and vocab.count_words(ids) == len(words)
    # A character never seen is <unk>, inside its word; the word is reported.
    assert vocab.unknown_tokens(["zebra", "know"]) == ["zebra"]
    assert UNK_ID in vocab.encode(vocab.segment(["zebra"]))


def test_a_word_vocabulary_counts_one_word_per_token():
    vocab = Vocabulary.build([["hi", "there"]])
    assert vocab.segment(["hi", "you"]) == ["hi", "you"] and vocab.count_words([4, 5]) == 2


def test_saved_beside_vocab_json_and_checked_when_loaded(tmp_path):
    vocab = SubwordVocabulary.train(SENTENCES, 50, "bpe")
    vocab.save(str(tmp_path / "vocab.json"))
    assert sorted(os.listdir(tmp_path)) == [SPM_FILE, "vocab.json"]
    assert json.loads((tmp_path / "vocab.json").read_text())["subword"]["type"] == "bpe"
    assert Vocabulary.load(str(tmp_path / "vocab.json")) == vocab
    (tmp_path / SPM_FILE).write_bytes(SubwordVocabulary.train(SENTENCES[:60], 40, "bpe").model)
    with pytest.raises(Seq2SeqError, match="is not the SentencePiece model"):
        Vocabulary.load(str(tmp_path / "vocab.json"))
    os.remove(tmp_path / SPM_FILE)
    with pytest.raises(Seq2SeqError, match="cannot be read"):
        Vocabulary.load(str(tmp_path / "vocab.json"))


def test_trained_on_the_training_split_and_cached(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(batches, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(batches, "CACHE_MIN_BYTES", 0)
    settings = dict(fmt="plain", pairing="alternate", tokenizer="classic", vocab_size=30,
                    max_src_len=8, max_tgt_len=8, vocab_type="unigram")
    data = build_dataset(toy[0], **settings)
    assert isinstance(data.vocab, SubwordVocabulary) and "unigram pieces" in data.summary()
    cached = [name for name in os.listdir(tmp_path) if name.startswith("spm-")]
    assert len(cached) == 1
    (tmp_path / cached[0]).write_bytes(b"not a model")  # unreadable: trained again
    assert build_dataset(toy[0], **settings).vocab == data.vocab
    assert build_dataset(toy[0], **settings).vocab == data.vocab  # from the cache
    # A held-out split re-encoded with the saved vocabulary: same pieces.
    again = build_dataset(toy[0], vocab=data.vocab, **settings)
    assert [list(ids) for ids in again.valid.tgt] == [list(ids) for ids in data.valid.tgt]


def test_pretrained_word_vectors_are_refused_with_subwords():
    config = RunConfig()
    config.data.vocab, config.train.embeddings = "bpe", "word2vec"
    with pytest.raises(Seq2SeqError, match="^--embeddings .*--vocab word"):
        config.validate()


def test_a_subword_run_decodes_alone_and_reports_perplexity_per_word(toy, tmp_path):
    from lasagne_seq2seq.decode.decoder import load_decoder
    from lasagne_seq2seq.evaluation.evaluate import evaluate_run
    from lasagne_seq2seq.serve.export import export_model, load_exported
    from lasagne_seq2seq.decode.decoder import Decoder
    from lasagne_seq2seq.train.run import train_run
    config = RunConfig()
    config.data.corpus, config.data.vocab, config.data.vocab_size = toy[0], "bpe", 40
    config.data.format, config.data.pairing, config.data.tokenizer = "plain", "alternate", "classic"
    config.data.max_src_len = config.data.max_tgt_len = 10
    config.data.valid_fraction = config.data.test_fraction = 0.05
    config.model.embedding_size, config.model.hidden_size = 8, 16
    config.train.batch_size, config.train.buckets, config.train.validate_every = 32, 1, 10
    config.train.sample_every, config.train.max_steps = 0, 20
    run_dir = str(tmp_path / "run")
    train_run(config, run_dir, progress_bar=False, log=lambda line: None)
    assert os.path.exists(os.path.join(run_dir, SPM_FILE))
    record = json.loads(open(os.path.join(run_dir, "history.json")).read())[-1]
    # Words are fewer than pieces: the same NLL over fewer units.
    assert record["valid_ppl"] > record["valid_token_ppl"] > 1

    decoder = load_decoder(run_dir)
    assert isinstance(decoder.vocab, SubwordVocabulary)
    replies = decoder.reply(["w1 w2 w3", "hello zebra"])
    for reply in replies:
        assert "\u2581" not in reply.text and reply.tokens == decoder.vocab.words(
            decoder.vocab.encode(reply.pieces))

    export = str(tmp_path / "chatbot.npz")
    export_model(run_dir, export)
    config2, vocab2, net2 = load_exported(export)
    assert vocab2 == decoder.vocab
    assert [r.text for r in Decoder(net2, vocab2, config2).reply(["w1 w2 w3"])] \
        == [replies[0].text]

    results = evaluate_run(run_dir)
    assert results["perplexity"] > results["perplexity_per_token"] > 1
