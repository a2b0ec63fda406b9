"""How to decode: :class:`DecodeOptions` and :data:`STRATEGY_NAMES` (NumPy only).

Strategies:

* **greedy**: the best token at every step;
* **beam**: beam search with length normalisation, EOS-finished hypotheses
  set aside, n-best lists and optional n-gram repeat blocking;
* **sample**: a categorical draw at every step, with temperature, top-k and
  top-p (nucleus) filtering, seeded.

On top of any strategy: **MMI-antiLM** (Li et al. 2016), **MMI-bidi** and
**averaged states** (seed 002); see :mod:`lasagne_seq2seq.decode.decoder`.

:class:`DecodeOptions` ``()`` is greedy; the scripts and the server decode as
:data:`DEFAULT_DECODING` says (top-p sampling) unless told otherwise.
"""
import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Optional
from lasagne_seq2seq.config import setting
from lasagne_seq2seq.errors import Seq2SeqError


#: The questions of the original README's two result tables (v1, then v2).
SAMPLE_QUESTIONS = (
    "what do you think about bill gates?", "what happens if machines can think?",
    "what is the greatest novel every written?", "have you hurt anyone?",
    "is madrid the capital of portugal?", "what is the meaning of life?",
    "my name is david. what is my name?", "my name is john. what is my name?",
    "what is the purpose of being intelligent?", "is the sky blue or black?",
    "what is love?", "what do you think about tesla?", "what do you think about china?",
    "hi", "hello", "how are you?", "hey what's up?", "how come?", "how old are you?",
    "what is two plus two?", "what is your name?", "bye, sweety",
)


#: The decoding strategies (the searches: :data:`lasagne_seq2seq.decode.decoder.STRATEGIES`).
STRATEGY_NAMES = ("greedy", "beam", "sample")
#: The largest length-normalisation exponent (100 tokens ** 10 is 1e20).
MAX_ALPHA = 10.0
#: How the scripts and the server decode when no strategy is named
#: (:meth:`DecodeOptions.from_dict`): chosen by measurement (docs/results.md,
#: "Choosing the defaults": of the decodings whose replies met the diversity
#: targets, the highest BLEU). Its settings also apply when its strategy is
#: named without them; another strategy starts from the dataclass's values
#: (greedy: :class:`DecodeOptions` ``()``). Seeded, so that the same questions
#: get the same replies; ``--seed`` draws others.
DEFAULT_DECODING = {"strategy": "sample", "temperature": 0.7, "top_p": 0.9, "seed": 0}
#: The settings only sampling reads.
SAMPLING_SETTINGS = ("temperature", "top_k", "top_p", "seed")


@dataclass
class DecodeOptions:
    """How to decode; every field has a ``bin/test.py`` flag of the same name.

    Attributes
    ----------
    strategy : {"greedy", "beam", "sample"}
    beam : int
        Beam width (beam search), and the number of samples drawn for
        MMI-bidi reranking (sampling).
    nbest : int
        Replies returned per question, best first.
    alpha : float
        Length normalisation: hypotheses are ranked by ``score / length**alpha``
        (length counts EOS); 0 ranks by the plain sum.
    max_len : int, optional
        Longest reply in tokens (the decoder's default when None).
    block_ngram : int
        Forbid a token that would repeat an n-gram of this size already in
        the reply (0: off).
    temperature, top_k, top_p : float, int, float
        Sampling: divide the scores by ``temperature``, keep the ``top_k``
        best tokens (0: all) and the smallest set holding ``top_p`` of the
        probability.
    seed : int, optional
        Seed of the sampling generator (fresh entropy when None).
    antilm_lambda, antilm_gamma : float, int
        MMI-antiLM: subtract ``antilm_lambda * log p_LM(token)`` from the
        scores of the first ``antilm_gamma`` tokens.
    mmi_bidi_lambda : float
        MMI-bidi: rerank the candidates by ``score + mmi_bidi_lambda * log p(S|T)``.
    average_states : float
        Feed the decoder ``(1 - a) * last state + a * mean of its states so far``.
    allow_unk : bool
        Let replies hold ``<unk>``; by default its score is ``-inf`` at every
        step of every strategy (a reply saying "unknown word" reads as noise).

    Examples
    --------
    >>> DecodeOptions(strategy="beam", beam=5, nbest=3).validate().nbest
    3
    >>> DecodeOptions(temperature=0).validate()
    Traceback (most recent call last):
    ...
    lasagne_seq2seq.errors.Seq2SeqError: --temperature must be > 0 (got 0)
    """
    strategy: str = setting("greedy", "search strategy (--beam N > 1 alone selects beam)",
                            choices=STRATEGY_NAMES)
    beam: int = setting(10, "beam width; with sampling and MMI-bidi, the number of samples "
                        "to rerank")
    nbest: int = setting(1, "replies per question, best first, with scores")
    alpha: float = setting(0.0, "length normalisation: rank by score / length**alpha")
    max_len: Optional[int] = setting(None, "longest reply in tokens (default: the model's "
                                     "longest training reply)")
    block_ngram: int = setting(0, "forbid repeating any N-gram within a reply (0: off)",
                               metavar="N")
    temperature: float = setting(1.0, "sampling: divide the scores by this before each draw")
    top_k: int = setting(0, "sampling: draw among the K best tokens only (0: all)", metavar="K")
    top_p: float = setting(1.0, "sampling: draw among the fewest tokens holding this "
                           "probability", metavar="P")
    seed: Optional[int] = setting(None, "sampling: seed of the draws (random when left out)")
    antilm_lambda: float = setting(0.0, "MMI-antiLM: subtract lambda * log p_LM(token) "
                                   "(needs --lm)")
    antilm_gamma: int = setting(5, "MMI-antiLM: apply the anti-LM term to the first N tokens",
                                metavar="N")
    mmi_bidi_lambda: float = setting(0.0, "MMI-bidi: rerank by score + lambda * log p(S|T) "
                                     "(needs --backward)")
    average_states: float = setting(0.0, "feed the decoder (1 - A) * last state + A * mean "
                                    "state (seed 002; 0: off)", metavar="A")
    allow_unk: bool = setting(False, "let replies hold <unk> (by default it is never chosen)")

    def validate(self, has_lm=False, has_backward=False):
        """Raise :class:`Seq2SeqError` naming the flag of the first invalid setting.

        Parameters
        ----------
        has_lm, has_backward : bool
            Whether a language model / a backward model is loaded.

        Returns
        -------
        DecodeOptions
            ``self``, for chaining.
        """
        numbers = {name: getattr(self, name) for name in (
            "alpha", "temperature", "top_p", "antilm_lambda", "mmi_bidi_lambda", "average_states")}
        for name, value in numbers.items():
            if not math.isfinite(value):
                raise Seq2SeqError("--%s must be a finite number (got %s)"
                                   % (name.replace("_", "-"), value))
        checks = [
            (self.seed is None or 0 <= self.seed < 2 ** 32,
             "--seed must be in [0, 2**32) (got %s)" % self.seed),
            (self.alpha <= MAX_ALPHA, "--alpha must be at most %g: score / length**alpha "
             "overflows beyond (got %s)" % (MAX_ALPHA, self.alpha)),
            (self.strategy in STRATEGY_NAMES, "--strategy must be one of %s (got %r)"
             % (", ".join(STRATEGY_NAMES), self.strategy)),
            (self.beam >= 1, "--beam must be at least 1 (got %s)" % self.beam),
            (self.nbest >= 1, "--nbest must be at least 1 (got %s)" % self.nbest),
            (self.strategy != "beam" or self.nbest <= self.beam,
             "--nbest %s exceeds --beam %s: a beam holds at most --beam replies"
             % (self.nbest, self.beam)),
            (self.strategy != "greedy" or self.nbest == 1,
             "--nbest %s needs --strategy beam or sample (greedy finds one reply)" % self.nbest),
            (self.alpha >= 0, "--alpha must be >= 0 (got %s)" % self.alpha),
            (self.max_len is None or self.max_len >= 1,
             "--max-len must be at least 1 (got %s)" % self.max_len),
            (self.block_ngram >= 0, "--block-ngram must be >= 0, 0 is off (got %s)"
             % self.block_ngram),
            (self.temperature > 0, "--temperature must be > 0 (got %s)" % self.temperature),
            (self.top_k >= 0, "--top-k must be >= 0, 0 is off (got %s)" % self.top_k),
            (0 < self.top_p <= 1, "--top-p must be in (0, 1] (got %s)" % self.top_p),
            (self.antilm_lambda >= 0, "--antilm-lambda must be >= 0 (got %s)"
             % self.antilm_lambda),
            (self.antilm_gamma >= 1, "--antilm-gamma must be at least 1 (got %s)"
             % self.antilm_gamma),
            (self.antilm_lambda == 0 or has_lm,
             "--antilm-lambda needs a language model: pass --lm RUN_DIR "
             "(trained with bin/train.py --model lm)"),
            (self.mmi_bidi_lambda >= 0, "--mmi-bidi-lambda must be >= 0 (got %s)"
             % self.mmi_bidi_lambda),
            (self.mmi_bidi_lambda == 0 or has_backward,
             "--mmi-bidi-lambda needs a backward model: pass --backward RUN_DIR "
             "(trained with bin/train.py --reverse-pairs)"),
            (self.mmi_bidi_lambda == 0 or self.strategy != "greedy",
             "--mmi-bidi-lambda reranks several candidates: use --strategy beam or sample"),
            (0 <= self.average_states <= 1, "--average-states must be in [0, 1] (got %s)"
             % self.average_states),
        ]
        for ok, message in checks:
            if not ok:
                raise Seq2SeqError(message)
        return self

    @classmethod
    def from_dict(cls, values):
        """Options from the settings a user gave (flags or a JSON request).

        Settings left out take :data:`DEFAULT_DECODING`'s where the strategy
        is its own (also when no strategy is given), else the dataclass's.
        Unknown keys and wrong types are refused, and so is a setting the
        strategy would ignore: ``beam`` above 1 without ``strategy`` selects
        beam search (as in fairseq and OpenNMT-py), with ``strategy`` greedy
        it is an error; sampling settings need ``strategy`` sample.

        Examples
        --------
        >>> DecodeOptions.from_dict({"strategy": "beam", "alpha": 1}).alpha
        1
        >>> DecodeOptions.from_dict({"beams": 3})
        Traceback (most recent call last):
        ...
        lasagne_seq2seq.errors.Seq2SeqError: unknown decoding option beams: known are strategy, \
beam, nbest, alpha, max_len, block_ngram, temperature, top_k, top_p, seed, antilm_lambda, \
antilm_gamma, mmi_bidi_lambda, average_states, allow_unk
        """
        if not isinstance(values, dict):
            raise Seq2SeqError("decoding options must be a JSON object, got %s"
                               % type(values).__name__)
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise Seq2SeqError("unknown decoding option%s %s: known are %s" % (
                "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(fields)))
        for name, value in values.items():
            allowed = typing.get_args(fields[name]) or (fields[name],)  # Optional[int]: int, None
            if float in allowed:
                allowed += (int,)
            # JSON true is an int to Python: only a bool setting takes it.
            if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
                raise Seq2SeqError("decoding option %s must be %s, got %r" % (
                    name, " or ".join("null" if t is type(None) else t.__name__ for t in allowed),
                    value))
        values = dict(values)
        if values.get("beam", 1) > 1 and "strategy" not in values:
            values["strategy"] = "beam"
        strategy = values.setdefault("strategy", DEFAULT_DECODING["strategy"])
        if strategy == DEFAULT_DECODING["strategy"]:
            values = dict(DEFAULT_DECODING, **values)
        if strategy == "greedy" and values.get("beam", 1) > 1:
            raise Seq2SeqError("--beam %s does nothing with --strategy greedy: use --strategy beam "
                               "(or drop --strategy)" % values["beam"])
        ignored = sorted(name for name in SAMPLING_SETTINGS if values.get(name) is not None)
        if ignored and strategy != "sample":
            raise Seq2SeqError("--%s only affects sampling: add --strategy sample or drop it"
                               % ignored[0].replace("_", "-"))
        return cls(**values)
