"""Evaluating a run directory: what ``bin/evaluate.py`` prints.

:func:`evaluate_run` decodes held-out pairs, scores the replies with
:mod:`lasagne_seq2seq.evaluation.metrics` and adds the perplexity of the
reference replies (the network's own loss, as in training's validation), per
word and per token: with a subword vocabulary the pieces' log-probabilities
summed per word, so that word and subword runs compare. A
multi-turn model (``model.remember_state``) is evaluated as it was trained and
validated: the encoder state is carried through each conversation, exchange by
exchange, for the perplexity and for the decoded replies alike.
"""
import dataclasses
import time
from lasagne_seq2seq.evaluation.metrics import reply_metrics


#: Pairs evaluated when no ``max_pairs`` is given (decoding dominates the time).
DEFAULT_MAX_PAIRS = 1000


#: Rows of :func:`format_table`: (key in the results, label, number format).
TABLE_ROWS = (
    ("pairs", "pairs evaluated", "%d"),
    ("perplexity", "perplexity per word", "%.2f"),
    ("perplexity_per_token", "perplexity per token", "%.2f"),
    ("bleu", "BLEU (sacreBLEU, 0-100)", "%.2f"),
    ("distinct_1", "distinct-1", "%.4f"),
    ("distinct_2", "distinct-2", "%.4f"),
    ("mean_length", "mean reply length", "%.2f"),
    ("reference_mean_length", "mean reference length", "%.2f"),
    ("top_reply_share", "most frequent reply share", "%.4f"),
    ("unk_reply_share", "replies with <unk>", "%.4f"),
    ("replies_per_second", "replies per second", "%.1f"),
)


def held_out_pairs(config, vocab, pairs_file=None, fmt="auto"):
    """The pairs a run is evaluated on, encoded with its saved vocabulary.

    Parameters
    ----------
    config : RunConfig
        The run's configuration: corpus, tokenizer, caps, split fractions and seed.
    vocab : Vocabulary
        The run's vocabulary (words it does not know become UNK).
    pairs_file : str, optional
        Evaluate on every pair of this corpus file instead of the run's
        held-out test split.
    fmt : str
        Format of ``pairs_file`` (see :func:`~lasagne_seq2seq.data.corpora.load_conversations`).

    Returns
    -------
    EncodedPairs
        Questions and replies (swapped for a ``--reverse-pairs`` run, like its training).
    """
    from lasagne_seq2seq.data.batches import build_dataset
    from lasagne_seq2seq.errors import Seq2SeqError
    d = config.data
    held_out = dict(valid_fraction=0.0, test_fraction=0.0) if pairs_file else dict(
        valid_fraction=d.valid_fraction, test_fraction=d.test_fraction)
    dataset = build_dataset(pairs_file or d.corpus, fmt=fmt if pairs_file else d.format,
                            encoding=d.encoding, tokenizer=d.tokenizer, pairing=d.pairing,
                            max_src_len=d.max_src_len, max_tgt_len=d.max_tgt_len,
                            seed=config.train.seed, vocab=vocab, **held_out)
    pairs = dataset.train if pairs_file else dataset.test
    if not len(pairs):
        raise Seq2SeqError("the run was trained with no test split (test fraction %g of %s): "
                           "pass --pairs FILE" % (d.test_fraction, d.corpus))
    if d.reverse_pairs:
        pairs = dataclasses.replace(pairs, src=pairs.tgt, tgt=pairs.src)
    return pairs


def perplexity_of(net, pairs, batch_size=64, reverse_source=True, carry_state=False):
    """Per-token perplexity of the replies of ``pairs`` under teacher forcing.

    The same loss as training's validation: dropout off, EOS counted,
    padding masked out.

    Parameters
    ----------
    net : Seq2Seq
    pairs : EncodedPairs
    batch_size : int
    reverse_source : bool
        Reverse the questions, as the network was trained.
    carry_state : bool
        Carry the encoder state through each conversation of ``pairs``
        (their ``conversation``), zeros where one starts, on the
        conversation-ordered batches that a ``remember_state`` run validates
        on (:func:`~lasagne_seq2seq.train.multiturn.conversation_batches`); else
        every exchange's encoder starts from zeros.

    Returns
    -------
    perplexity : float
    num_tokens : int
        Target tokens scored (EOS included).
    """
    import theano
    import theano.tensor as T
    from lasagne_seq2seq.backend.modes import compile_mode
    from lasagne_seq2seq.data.batches import iterate_batches
    from lasagne_seq2seq.train.multiturn import carry, conversation_batches
    from lasagne_seq2seq.train.trainer import perplexity
    batch = (T.imatrix("src"), T.matrix("src_mask"), T.imatrix("tgt_in"), T.imatrix("tgt_out"),
             T.matrix("tgt_mask"))
    if carry_state:
        memory = T.matrix("memory")
        terms = net.loss_terms(*batch, deterministic=True, memory=memory)
        inputs, outputs = list(batch) + [memory], [terms.loss, batch[4].sum(), terms.new_memory]
        batches = conversation_batches(pairs, batch_size, reverse_source=reverse_source)
    else:
        inputs, outputs = list(batch), [net.loss(*batch, deterministic=True), batch[4].sum()]
        batches = iterate_batches(pairs, batch_size, reverse_source=reverse_source)
    loss_fn = theano.function(inputs, outputs, name="evaluate_loss", on_unused_input="ignore",
                              mode=compile_mode())
    loss_sum = num_tokens = 0.0
    memory = None
    for b in batches:
        arrays = [b.src, b.src_mask, b.tgt_in, b.tgt_out, b.tgt_mask]
        if carry_state:
            arrays.append(carry(memory, b.starts, net.memory_size))
        values = loss_fn(*arrays)
        loss_sum, num_tokens = loss_sum + float(values[0]), num_tokens + float(values[1])
        memory = values[2] if carry_state else None
    return perplexity(loss_sum, num_tokens), int(num_tokens)


def decode_pairs(decoder, pairs, options, batch_size=64):
    """The decoder's best reply to every question of ``pairs``, as token lists.

    Parameters
    ----------
    decoder : Decoder
    pairs : EncodedPairs
    options : DecodeOptions
    batch_size : int
        Questions decoded together (with beam search, times the beam width rows).

    Returns
    -------
    list of list of str
    """
    from lasagne_seq2seq.data.batches import source_batch
    replies = []
    for start in range(0, len(pairs), batch_size):
        ids = [list(q) for q in pairs.src[start:start + batch_size]]
        encoded = decoder.encode_fn(*source_batch(ids, reverse=decoder.config.model.reverse_source))
        found = decoder.decode_encoded(ids, encoded, [[] for _ in ids], options)
        replies += [best[0].tokens if best else [] for best in found]
    return replies


def decode_conversations(decoder, pairs, options, batch_size=64):
    """:func:`decode_pairs` with the encoder state carried through each conversation.

    What :class:`~lasagne_seq2seq.decode.decoder.Conversation` does with
    ``remember`` for one dialogue, for ``batch_size`` conversations at a
    time: each conversation's encoder starts from zeros, and every later
    question from the final state of the question before it.

    Parameters
    ----------
    decoder : Decoder
    pairs : EncodedPairs
        With ``conversation`` (pairs of a conversation consecutive, in order).
    options : DecodeOptions
    batch_size : int
        Conversations decoded side by side.

    Returns
    -------
    list of list of str
        The best reply to each question of ``pairs``, in their order.
    """
    import numpy as np
    from lasagne_seq2seq.train.multiturn import conversations_of
    encode = decoder.memory_encoder()
    conversations = conversations_of(pairs)
    replies = [None] * len(pairs)
    for first in range(0, len(conversations), batch_size):
        group = conversations[first:first + batch_size]
        memory = np.zeros((len(group), decoder.net.memory_size), dtype=np.float32)
        for exchange in range(max(len(c) for c in group)):
            rows = [row for row, c in enumerate(group) if exchange < len(c)]
            indices = [group[row][exchange] for row in rows]
            ids = [list(pairs.src[i]) for i in indices]
            *encoded, memory[rows] = encode(*decoder.main.source(ids), memory[rows])
            found = decoder.decode_encoded(ids, encoded, [[] for _ in ids], options)
            for index, best in zip(indices, found):
                replies[index] = best[0].tokens if best else []
    return replies


def evaluate_run(run_dir, pairs=None, options=None, which="best", max_pairs=DEFAULT_MAX_PAIRS,
                 fmt="auto", lm_dir=None, backward_dir=None, batch_size=64, n_examples=5,
                 carry_state=None):
    """Perplexity and reply metrics of a trained run, on held-out pairs.

    Parameters
    ----------
    run_dir : str
        A run directory written by ``bin/train.py``.
    pairs : str, optional
        A corpus file of pairs to evaluate on; the run's held-out test split
        (rebuilt with its saved vocabulary and seed) when omitted.
    options : DecodeOptions, optional
        How replies are decoded (greedy when omitted).
    which : {"best", "last"}
        The checkpoint.
    max_pairs : int or None
        Evaluate the first ``max_pairs`` pairs only (None: all).
    fmt : str
        Format of the ``pairs`` file.
    lm_dir, backward_dir : str, optional
        Helper runs for anti-LM and MMI-bidi decoding.
    batch_size : int
        Pairs per loss batch and questions per decoding batch.
    n_examples : int
        (question, reference, reply) triples kept in the results.
    carry_state : bool, optional
        Carry the encoder state through each conversation, for the
        perplexity and the replies (:func:`perplexity_of`,
        :func:`decode_conversations`); by default when the run was trained
        so (``model.remember_state``).

    Returns
    -------
    dict
        ``pairs``, ``target_tokens`` (EOS counted), ``perplexity`` (per
        word, :func:`~lasagne_seq2seq.train.trainer.word_perplexity`) and
        ``perplexity_per_token`` (equal with a word vocabulary), the keys of
        :func:`reply_metrics`, ``decode_seconds``, ``replies_per_second``,
        ``examples``, ``remember_state`` (how the run was trained),
        ``carried_state`` and ``conversations`` (how many, when the state was
        carried), and what was evaluated (``run_dir``, ``checkpoint``,
        ``data``, ``options``). JSON-serialisable.

    Examples
    --------
    >>> results = evaluate_run("runs/default")           # doctest: +SKIP
    >>> print(format_table(results))                     # doctest: +SKIP
    """
    from lasagne_seq2seq.decode.options import DecodeOptions
    from lasagne_seq2seq.decode.decoder import load_decoder
    from lasagne_seq2seq.data.text import detokenize
    from lasagne_seq2seq.train.trainer import word_perplexity
    options = options or DecodeOptions()
    decoder = load_decoder(run_dir, which, lm_dir=lm_dir, backward_dir=backward_dir)
    config, vocab = decoder.config, decoder.vocab
    options.validate(has_lm=decoder.lm is not None, has_backward=decoder.backward is not None)
    if carry_state is None:
        carry_state = config.model.remember_state
    held_out = held_out_pairs(config, vocab, pairs, fmt)
    if max_pairs:
        held_out = dataclasses.replace(held_out, src=held_out.src[:max_pairs],
                                       tgt=held_out.tgt[:max_pairs],
                                       conversation=held_out.conversation[:max_pairs])
    token_ppl, num_tokens = perplexity_of(decoder.net, held_out, batch_size,
                                          config.model.reverse_source, carry_state)
    ppl = word_perplexity(token_ppl, vocab, held_out.tgt)
    started = time.time()
    replies = (decode_conversations if carry_state else decode_pairs)(
        decoder, held_out, options, batch_size)
    seconds = time.time() - started
    questions = [vocab.words(ids) for ids in held_out.src]
    references = [vocab.words(ids) for ids in held_out.tgt]
    results = {"run_dir": str(run_dir), "checkpoint": which,
               "data": pairs or "test split of %s" % config.data.corpus,
               "options": dataclasses.asdict(options), "pairs": len(held_out),
               "target_tokens": num_tokens, "perplexity": ppl,
               "perplexity_per_token": token_ppl,
               "remember_state": config.model.remember_state, "carried_state": carry_state,
               "conversations": len(set(held_out.conversation)) if carry_state else None}
    results.update(reply_metrics(references, replies))
    results.update(decode_seconds=seconds, replies_per_second=len(replies) / max(seconds, 1e-9),
                   examples=[{"question": detokenize(q), "reference": detokenize(r),
                              "reply": detokenize(h)}
                             for q, r, h in list(zip(questions, references, replies))[:n_examples]])
    return results


def format_table(results):
    """The results of :func:`evaluate_run` as an aligned two-column table.

    Parameters
    ----------
    results : dict

    Returns
    -------
    str
        One metric per line, the most frequent reply, and for a multi-turn
        model (or a carried state) where each exchange's encoder started.

    Examples
    --------
    >>> print(format_table({"pairs": 2, "bleu": 12.5, "top_reply": "yes"}))
    pairs evaluated             2
    BLEU (sacreBLEU, 0-100)     12.50
    most frequent reply         yes
    >>> print(format_table({"pairs": 9, "carried_state": True, "conversations": 3}))
    pairs evaluated             9
    encoder state               carried through each of 3 conversations
    """
    width = max(len(label) for _, label, _ in TABLE_ROWS) + 2
    lines = ["%-*s %s" % (width, label, form % results[key])
             for key, label, form in TABLE_ROWS if results.get(key) is not None]
    if "top_reply" in results:
        lines.append("%-*s %s" % (width, "most frequent reply", results["top_reply"] or "(empty)"))
    if results.get("carried_state"):
        lines.append("%-*s carried through each of %d conversations"
                     % (width, "encoder state", results["conversations"]))
    elif results.get("remember_state"):
        lines.append("%-*s zeros at every exchange (not carried)" % (width, "encoder state"))
    return "\n".join(lines)
