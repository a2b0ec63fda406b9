"""The vocabulary: tokens to ids and back, with fixed special tokens.

Ids 0-3 are always ``<pad>``, ``<unk>``, ``<s>`` (start of a reply) and
``</s>`` (end of a reply). A :class:`Vocabulary`'s tokens are words, the most
frequent of the training split; a :class:`SubwordVocabulary`'s are the
pieces of a SentencePiece model (unigram or BPE) trained on it, which spell
any word. A vocabulary is saved as ``vocab.json`` beside every model (and a
subword one's SentencePiece model as ``spm.model`` beside it).
"""
import hashlib
import json
import os
from collections import Counter

from lasagne_seq2seq.files import write_json
from lasagne_seq2seq.errors import Seq2SeqError

__all__ = ["PAD", "UNK", "START", "EOS", "PAD_ID", "UNK_ID", "START_ID", "EOS_ID",
           "SPECIALS", "SPM_FILE", "Vocabulary", "SubwordVocabulary"]

PAD, UNK, START, EOS = "<pad>", "<unk>", "<s>", "</s>"
PAD_ID, UNK_ID, START_ID, EOS_ID = 0, 1, 2, 3
SPECIALS = (PAD, UNK, START, EOS)
#: The file beside ``vocab.json`` that holds a subword vocabulary's model.
SPM_FILE = "spm.model"


class Vocabulary(object):
    """A fixed list of tokens; a token's id is its position.

    Parameters
    ----------
    tokens : list of str
        Every token by id, starting with :data:`SPECIALS`.
    counts : dict, optional
        Training-corpus frequency of each token (for coverage reports).

    Examples
    --------
    >>> vocab = Vocabulary.build([["hi", "there"], ["hi"]], max_size=10)
    >>> vocab.encode(["hi", "you"])
    [4, 1]
    >>> vocab.decode([4, 5, 3, 4])
    ['hi', 'there']
    """
    pad_id, unk_id, start_id, eos_id = PAD_ID, UNK_ID, START_ID, EOS_ID

    def __init__(self, tokens, counts=None):
        tokens = list(tokens)
        if tuple(tokens[:len(SPECIALS)]) != SPECIALS:
            raise ValueError("a vocabulary starts with %s" % (SPECIALS,))
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary lists each token once")
        self.tokens = tokens
        self.token_to_id = {token: i for i, token in enumerate(tokens)}
        self.counts = dict(counts) if counts is not None else None

    @classmethod
    def build(cls, token_lists, max_size=22000, min_count=1):
        """The most frequent tokens of a corpus.

        Parameters
        ----------
        token_lists : iterable of list of str
            Tokenized utterances.
        max_size : int
            Size of the vocabulary, the four special tokens included.
        min_count : int
            Leave out tokens seen fewer times.

        Returns
        -------
        Vocabulary
        """
        counts = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted((item for item in counts.items() if item[1] >= min_count),
                        key=lambda item: (-item[1], item[0]))
        kept = [token for token, _ in ranked[:max(max_size - len(SPECIALS), 0)]]
        return cls(list(SPECIALS) + kept, {token: counts[token] for token in kept})

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self.token_to_id

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def __repr__(self):
        return "<Vocabulary of %d tokens>" % len(self.tokens)

    def encode(self, tokens):
        """Token ids, with UNK for tokens outside the vocabulary."""
        get = self.token_to_id.get
        return [get(token, UNK_ID) for token in tokens]

    def decode(self, ids, strip_special=True):
        """Tokens of ``ids``, up to the first EOS.

        Parameters
        ----------
        ids : iterable of int
        strip_special : bool
            Drop PAD and START tokens (UNK stays visible).
        """
        tokens = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if strip_special and i in (PAD_ID, START_ID):
                continue
            tokens.append(self.tokens[i])
        return tokens

    def segment(self, words):
        """The vocabulary's tokens for a list of words: the words themselves here."""
        return list(words)

    def words(self, ids):
        """The words ``ids`` spell, up to the first EOS (:meth:`decode` here)."""
        return self.decode(ids)

    def count_words(self, ids):
        """How many words ``ids`` spell (no EOS): one per id here."""
        return len(self.words(ids))

    def unknown_tokens(self, tokens):
        """The words of ``tokens`` that the vocabulary reads as ``<unk>``."""
        return [token for token in tokens if token not in self.token_to_id]

    def coverage(self, token_lists):
        """Share of the tokens in ``token_lists`` that the vocabulary knows."""
        known = total = 0
        for tokens in token_lists:
            total += len(tokens)
            known += sum(token in self.token_to_id for token in tokens)
        return known / total if total else 0.0

    def save(self, path):
        """Write ``{"tokens": [...], "counts": {...}}`` atomically (a temporary
        file in the same folder, then renamed)."""
        write_json({"tokens": self.tokens, "counts": self.counts}, path)

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by :meth:`save`.

        Parameters
        ----------
        path : str

        Returns
        -------
        Vocabulary

        Raises
        ------
        Seq2SeqError
            If the file is missing, unreadable, not JSON or not a vocabulary.
        """
        try:
            with open(path, encoding="utf-8") as handle:
                values = json.load(handle)
            if values.get("subword"):
                return SubwordVocabulary.from_file(path, values)
            return cls(values["tokens"], values.get("counts"))
        except FileNotFoundError:
            raise Seq2SeqError("vocabulary %s not found: it is written by bin/train.py "
                               "beside every model" % path)
        except OSError as error:
            raise Seq2SeqError("vocabulary %s cannot be read (%s): pass the vocab.json file "
                               "of a run" % (path, error.strerror))
        except (ValueError, KeyError, TypeError) as error:
            raise Seq2SeqError("vocabulary %s is not a valid vocab.json (%s): restore it "
                               "from the run that made the model"
                               % (path, str(error).splitlines()[0]))


class SubwordVocabulary(Vocabulary):
    """The pieces of a SentencePiece model, by id, as a vocabulary.

    Words (from :func:`~lasagne_seq2seq.data.text.tokenize`) are cut into
    pieces; a piece that starts a word begins with ``\u2581``, so the pieces
    join back into exactly those words (:meth:`words`). Ids 0-3 are the
    special tokens, as in every vocabulary.

    Parameters
    ----------
    model : bytes
        A serialised SentencePiece model (what :meth:`train` makes).
    model_type : {"unigram", "bpe"}

    Examples
    --------
    >>> vocab = SubwordVocabulary.train(["low lower lowest", "new newer"] * 20, 30, "bpe")
    >>> vocab.words(vocab.encode(vocab.segment(["newest"])))
    ['newest']
    """

    #: Marks the first piece of a word (SentencePiece's meta symbol).
    WORD_START = "\u2581"

    def __init__(self, model, model_type):
        import sentencepiece
        self.model, self.model_type = bytes(model), model_type
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=self.model)
        super().__init__([self.processor.id_to_piece(i)
                          for i in range(self.processor.get_piece_size())])

    @classmethod
    def train(cls, sentences, size, model_type):
        """A SentencePiece model of ``size`` pieces at most, trained on ``sentences``.

        Parameters
        ----------
        sentences : iterable of str
            Utterances as space-separated words (tokenized): pieces never
            cross a space, and the text is not normalised, so that the
            pieces join back into the same words.
        size : int
            Pieces, the four special tokens included; fewer when the text
            holds fewer (a soft limit, so small corpora work too).
        model_type : {"unigram", "bpe"}

        Returns
        -------
        SubwordVocabulary
        """
        import io
        import sentencepiece
        model = io.BytesIO()
        # One thread: the same text gives the same pieces on any machine.
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=size,
            model_type=model_type, hard_vocab_limit=False, normalization_rule_name="identity",
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=START_ID, eos_id=EOS_ID, pad_piece=PAD,
            unk_piece=UNK, bos_piece=START, eos_piece=EOS, num_threads=1, minloglevel=2)
        return cls(model.getvalue(), model_type)

    def __eq__(self, other):
        return isinstance(other, SubwordVocabulary) and self.model == other.model

    def __repr__(self):
        return "<SubwordVocabulary of %d %s pieces>" % (len(self.tokens), self.model_type)

    def segment(self, words):
        """The pieces of a list of words."""
        return self.processor.encode(" ".join(words), out_type=str) if words else []

    def words(self, ids):
        """The words the pieces ``ids`` spell, up to the first EOS; a piece the
        model cannot spell shows as ``<unk>`` inside its word."""
        text = "".join(self.decode(ids))
        return text.replace(self.WORD_START, " ").split()

    def count_words(self, ids):
        """How many words ``ids`` spell (no EOS): the pieces that start one."""
        return sum(token.startswith(self.WORD_START) for token in self.decode(ids))

    def unknown_tokens(self, tokens):
        """The words of ``tokens`` with a character the model cannot spell."""
        return [word for word in tokens if UNK_ID in self.processor.encode(word)]

    def save(self, path):
        """Write ``vocab.json`` (the pieces, the model's type and checksum) and
        the model as :data:`SPM_FILE` beside it, each atomically."""
        from lasagne_seq2seq.files import atomic_open
        with atomic_open(os.path.join(os.path.dirname(path), SPM_FILE), "wb") as handle:
            handle.write(self.model)
        write_json({"tokens": self.tokens, "counts": None,
                    "subword": {"type": self.model_type, "model": SPM_FILE,
                                "sha256": hashlib.sha256(self.model).hexdigest()}}, path)

    @classmethod
    def from_file(cls, path, values):
        """The vocabulary that ``vocab.json`` at ``path`` (parsed: ``values``) describes.

        Raises
        ------
        Seq2SeqError
            If the model file is missing, or is not the one ``vocab.json``
            was written with (checksum or pieces differ).
        """
        subword = values["subword"]
        model_path = os.path.join(os.path.dirname(path), subword["model"])
        try:
            with open(model_path, "rb") as handle:
                model = handle.read()
        except OSError as error:
            raise Seq2SeqError("%s cannot be read (%s): %s needs the SentencePiece model "
                               "written beside it; copy it from the run that made the model"
                               % (model_path, error.strerror, path))
        vocab = None
        if hashlib.sha256(model).hexdigest() == subword["sha256"]:
            vocab = cls(model, subword["type"])
        if vocab is None or vocab.tokens != values["tokens"]:
            raise Seq2SeqError("%s is not the SentencePiece model %s was written with: restore "
                               "it from the run that made the model" % (model_path, path))
        return vocab
