"""The vocabulary: tokens to ids and back, with fixed special tokens.

Ids 0-3 are always ``<pad>``, ``<unk>``, ``<s>`` (start of a reply) and
``</s>`` (end of a reply); the rest are the most frequent training tokens.
A vocabulary is saved as ``vocab.json`` beside every model.
"""
import json
from collections import Counter

from lasagne_seq2seq.files import write_json
from lasagne_seq2seq.errors import Seq2SeqError

__all__ = ["PAD", "UNK", "START", "EOS", "PAD_ID", "UNK_ID", "START_ID", "EOS_ID",
           "SPECIALS", "Vocabulary"]

PAD, UNK, START, EOS = "<pad>", "<unk>", "<s>", "</s>"
PAD_ID, UNK_ID, START_ID, EOS_ID = 0, 1, 2, 3
SPECIALS = (PAD, UNK, START, EOS)


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

    def unknown_tokens(self, tokens):
        """The tokens of ``tokens`` that are not in the vocabulary."""
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
