"""Training: optimisers, the training loop, validation, checkpoints, resume.

:class:`Trainer` trains a :class:`~lasagne_seq2seq.models.seq2seq.Seq2Seq` on a
:class:`~lasagne_seq2seq.data.batches.Dataset`:

* batches come from length buckets with fixed shapes, and each bucket's
  training function is compiled with its loops unrolled (about 1.5x faster
  than ``theano.scan`` here; ``--no-unroll`` uses scan and one function);
* Adam or Adadelta on the per-token mean loss, with total-norm gradient
  clipping, and the encoder's gradient gated by a shared scalar, so a warm
  started encoder can stay frozen for its first epochs without a second
  compiled function (with fresh Adam/Adadelta state a zero gradient means a
  zero update);
* validation perplexity every ``validate_every`` steps, early stopping after
  ``patience`` validations without improvement, and sample replies;
* ``last.npz`` after every validation, at the end and on Ctrl-C, ``best.npz``
  at each new best (before ``last.npz`` records it), both atomic and with the
  vocabulary's fingerprint; resuming restores parameters, optimiser state,
  dropout and shuffling generators and the position in the epoch, so a
  resumed run continues exactly where it stopped (from ``best.npz``, with a
  warning, when ``last.npz`` cannot be read).
"""
import math
import time
import numpy as np
import theano
import theano.tensor as T
from lasagne.layers import DropoutLayer, get_all_layers
from lasagne_seq2seq.backend.modes import compile_mode
from lasagne_seq2seq.files import write_json
from lasagne_seq2seq.rundir import check_vocabulary, load_resumable, save_checkpoint
from lasagne_seq2seq.data.batches import default_buckets, iterate_batches
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.train.optimizers import (budget_fraction, clipped_updates,
                                              learning_rate_of, scheduled_learning_rate)
from lasagne_seq2seq.plots import plot_history
from lasagne_seq2seq.nn.sampled_softmax import log_uniform_candidates


def perplexity(loss_sum, num_tokens):
    """Per-token perplexity from a summed negative log-likelihood.

    Examples
    --------
    >>> round(perplexity(2 * math.log(10.0), 2), 6)
    10.0
    """
    return math.exp(min(loss_sum / max(num_tokens, 1), 50.0))


def word_perplexity(token_ppl, vocab, replies):
    """Per-word perplexity of ``replies`` from their per-token perplexity.

    The same summed NLL (EOS counted), over the replies' words plus EOS
    instead of their tokens plus EOS: with subword pieces, the pieces'
    log-probabilities summed per word, comparable with a word vocabulary's
    perplexity (for which both are equal).

    Parameters
    ----------
    token_ppl : float
    vocab : Vocabulary
    replies : list of int arrays
        The target ids the perplexity was measured on (no EOS).

    Returns
    -------
    float
    """
    tokens = sum(len(ids) + 1 for ids in replies)
    words = sum(vocab.count_words(ids) + 1 for ids in replies)
    return token_ppl ** (tokens / max(words, 1))


class Trainer(object):
    """Trains a network and keeps its run directory up to date.

    Parameters
    ----------
    net : Seq2Seq
        The network.
    dataset : Dataset
        Encoded train/valid splits and the vocabulary.
    config : RunConfig
        The run's configuration (``train`` and ``model.reverse_source`` are used).
    run : RunDir
        Where checkpoints and curves go (already created); a replacement
        built aside is committed at the first checkpoint.
    log : callable
        Prints one line (``tqdm.write`` keeps progress bars intact).
    sample_questions : list of str
        Questions answered with greedy decoding every ``sample_every`` steps.
    """

    def __init__(self, net, dataset, config, run, log=print, sample_questions=()):
        self.net, self.dataset, self.config, self.run = net, dataset, config, run
        self.train_config = config.train
        self.log = log
        self.sample_questions = list(sample_questions)
        tc = self.train_config
        #: Processes training together (:mod:`lasagne_seq2seq.train.distributed`),
        #: and whether this one writes the run directory.
        self.world_size, self.is_writer = 1, True
        if tc.buckets and tc.unroll:
            self.buckets = default_buckets(config.data.max_src_len, config.data.max_tgt_len,
                                           tc.buckets)
        else:
            self.buckets = None
        self.rng = np.random.RandomState(tc.seed)

        params = [p for p in net.params
                  if not (tc.freeze_embeddings and p in self._embedding_params())]
        self.trainable_params = params
        self.learning_rate = theano.shared(np.float32(
            learning_rate_of(tc)), name="learning_rate")
        self.encoder_gate = theano.shared(np.float32(1.0), name="encoder_gate")
        # Sampled softmax: the candidate words of the next step (drawn before each).
        self.candidates = (theano.shared(np.zeros(tc.sampled_softmax, np.int32), name="candidates")
                           if tc.sampled_softmax else None)
        self._train_functions = {}
        self._valid_function = None
        self._decoder = None
        self._optimizer = None
        # Dropout's random-stream states per compiled bucket shape, and those
        # of a resumed checkpoint for shapes not compiled yet.
        self._dropout_states = {}
        self._pending_dropout_states = {}
        self._resumed_from = None
        self._batches_per_epoch = 0
        self.progress = {"step": 0, "epoch": 0, "batch": 0, "epoch_rng": None,
                         "best_valid_ppl": None, "best_step": None, "bad_validations": 0,
                         "train_seconds": 0.0, "elapsed_seconds": 0.0, "tokens": 0,
                         "history": []}

    def _embedding_params(self):
        return {self.net.l_src_embed.W, self.net.l_tgt_embed.W}

    def _draw_candidates(self):
        """Sampled softmax: draw the next step's candidate words. The generator
        is seeded by (seed, step), so a resumed run draws what an uninterrupted
        one would."""
        if self.candidates is not None:
            rng = np.random.RandomState([self.train_config.seed, self.progress["step"]])
            self.candidates.set_value(log_uniform_candidates(
                self.net.vocab_size, self.train_config.sampled_softmax, rng))

    # ---------------------------------------------------------------- graphs
    def _symbolic_batch(self):
        return (T.imatrix("src"), T.matrix("src_mask"), T.imatrix("tgt_in"),
                T.imatrix("tgt_out"), T.matrix("tgt_mask"))

    def _optimizer_updates(self):
        """The optimiser's step, built once on placeholder gradients.

        Every bucket's training function substitutes its own gradients for
        the placeholders (``givens``), so all of them share one set of
        accumulators without cloning any graph (Theano's compiler copies the
        graph once anyway). Cloning each update expression instead copied the
        whole forward and backward graph once per update, which took the
        attention model's second bucket 736 s to compile.

        Returns
        -------
        placeholders : list of TensorVariable
            One gradient per trainable parameter.
        updates : OrderedDict
            Parameters and accumulators to their new values: the encoder's
            gradients times ``encoder_gate``, all clipped to ``max_grad_norm``,
            then Adam or Adadelta (:func:`~lasagne_seq2seq.train.optimizers.clipped_updates`).
        norm : Theano scalar
            The gradients' total norm before clipping.
        """
        if self._optimizer is None:
            tc = self.train_config
            params = self.trainable_params
            encoder = set(self.net.encoder_params)
            placeholders = [p.type("grad_%s" % p.name) for p in params]
            updates, norm = clipped_updates(
                placeholders, params, tc.optimizer, learning_rate=self.learning_rate,
                max_norm=tc.max_grad_norm,
                grad_scales=[self.encoder_gate if p in encoder else 1.0 for p in params])
            self._optimizer = placeholders, updates, norm
        return self._optimizer

    def train_function(self, shape):
        """The training step for one bucket shape (compiled on first use).

        Every bucket's function shares one set of optimiser accumulators: the
        first compiled function creates them, later ones reuse them.
        """
        if shape in self._train_functions:
            return self._train_functions[shape]
        started = time.time()
        batch = self._symbolic_batch()
        memory = self._memory_input()
        n_src, n_tgt = shape if shape is not None else (None, None)
        dropout_states = set(self._rng_state_variables())
        # penalty: the norm-stabiliser term (zero unless --norm-stabilizer).
        loss_sum, penalty, new_memory = self.net.loss_terms(
            *batch, deterministic=False, n_src_steps=n_src, n_tgt_steps=n_tgt, memory=memory,
            candidates=self.candidates)
        function = self._compile_step(shape, list(batch), loss_sum, penalty, memory, new_memory)
        self._train_functions[shape] = function
        # This graph's dropout layers drew random streams of their own: they
        # are saved under its shape, and restored if the resumed run had them.
        self._dropout_states[shape] = [v for v in self._rng_state_variables()
                                       if v not in dropout_states]
        saved = self._pending_dropout_states.pop(shape, None)
        if saved is not None:
            if len(saved) != len(self._dropout_states[shape]):
                raise Seq2SeqError("%s has %d dropout streams for %s, this run has %d: resume "
                                   "with the same --dropout and --word-dropout"
                                   % (self._resumed_from, len(saved), shape,
                                      len(self._dropout_states[shape])))
            for variable, value in zip(self._dropout_states[shape], saved):
                variable.set_value(value)
        self.log("compiled the training step for %s in %.0f s"
                 % ("%dx%d steps" % shape if shape else "any length", time.time() - started))
        return function

    def _compile_step(self, shape, batch, loss_sum, penalty, memory, new_memory):
        """One compiled update: the gradients of the per-token mean loss, then
        the optimiser's step, in one function.

        Returns
        -------
        theano function
            ``(*batch[, memory]) -> [loss_sum, num_tokens, norm[, new_memory]]``.
        """
        num_tokens = batch[4].sum()
        grads = T.grad(loss_sum / num_tokens + penalty, self.trainable_params)
        placeholders, updates, norm = self._optimizer_updates()
        inputs, outputs = list(batch), [loss_sum, num_tokens, norm]
        if memory is not None:  # multi-turn: the encoder state goes in and comes out
            inputs.append(memory)
            outputs.append(new_memory)
        # on_unused_input: an lm network never reads the source side.
        return theano.function(inputs, outputs, updates=updates,
                               givens=list(zip(placeholders, grads)),
                               name="train_%s" % (shape,), on_unused_input="ignore",
                               mode=compile_mode())

    def _memory_input(self):
        """The symbolic encoder state a training step starts from: None, the
        encoder starts from zeros (:class:`~lasagne_seq2seq.train.multiturn.MultiTurnTrainer`
        feeds the previous exchange's)."""
        return None

    def _run_step(self, function, batch):
        """One update on ``batch`` with a compiled training step.

        Returns
        -------
        loss : float
            The batch's summed loss.
        tokens : float
            Its target tokens.
        """
        loss, tokens = function(batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out,
                                batch.tgt_mask)[:2]
        return float(loss), float(tokens)

    def _validation_function(self):
        if self._valid_function is None:
            batch = self._symbolic_batch()
            loss_sum = self.net.loss(*batch, deterministic=True)
            self._valid_function = theano.function(list(batch), [loss_sum, batch[4].sum()],
                                                   name="validate", on_unused_input="ignore",
                                                   mode=compile_mode())
        return self._valid_function

    # ----------------------------------------------------------------- state
    def optimizer_state(self):
        """The optimiser's accumulators."""
        params = set(self.net.params)
        return [var for var in self._optimizer_updates()[1] if var not in params]

    def _rng_state_variables(self):
        layers = get_all_layers(self.net.l_logits)
        return [var for layer in layers if isinstance(layer, DropoutLayer)
                for var, *_ in layer._srng.state_updates]

    def _dropout_state_values(self):
        """The dropout streams' states by name: the bucket shape, then the
        stream's position in that bucket's graph (``15x16/00000``)."""
        return {"%s/%05d" % ("%dx%d" % shape if shape else "any", i): variable.get_value()
                for shape, variables in self._dropout_states.items()
                for i, variable in enumerate(variables)}

    def save(self, which="last"):
        """Write ``last.npz`` (or ``best.npz``) atomically."""
        save_checkpoint(self.run.checkpoint(which), self.net.param_values(),
                        [v.get_value() for v in self.optimizer_state()],
                        self._dropout_state_values(), self.progress, vocab=self.dataset.vocab)

    def resume(self, path):
        """Restore parameters, optimiser, generators and progress from a checkpoint.

        A bucket's dropout streams are restored when its training step is
        compiled (its graph creates them). When ``path`` cannot be read the
        run's ``best.npz`` is used instead, with a warning.

        Raises
        ------
        Seq2SeqError
            If no checkpoint can be read, or it was trained with another
            vocabulary or optimiser.
        """
        path, checkpoint = load_resumable(path, self.run.checkpoint("best"), self.log)
        check_vocabulary(checkpoint, path, self.dataset.vocab, self.run.vocab)
        self.net.set_param_values(checkpoint["params"], source=path)
        holder, values = self.optimizer_state(), checkpoint["optimizer"]
        if len(holder) != len(values):
            raise Seq2SeqError("%s has %d optimiser arrays, this run needs %d: resume with the "
                               "same --optimizer" % (path, len(values), len(holder)))
        for variable, value in zip(holder, values):
            variable.set_value(value)
        pending = {}
        for name in sorted(checkpoint["rng"]):
            shape = name.split("/")[0]
            shape = None if shape == "any" else tuple(int(n) for n in shape.split("x"))
            pending.setdefault(shape, []).append(checkpoint["rng"][name])
        self._pending_dropout_states = pending
        self._resumed_from = path
        self.progress.update(checkpoint["progress"])
        saved_world = self.progress.get("world_size", 1)
        if saved_world != self.world_size:
            # Batches hold world_size times --batch-size pairs: keep the share
            # of the epoch done (the rest of the epoch is batched anew).
            self.progress["batch"] = self.progress["batch"] * saved_world // self.world_size
            self.log("resuming a run of %d process%s with %d: the step count and epoch carry "
                     "on, the global batch is now %d pairs"
                     % (saved_world, "es" if saved_world > 1 else "", self.world_size,
                        self.train_config.batch_size * self.world_size))
        self.progress["world_size"] = self.world_size
        self.log("resumed from %s at step %d (epoch %d, batch %d)" % (
            path, self.progress["step"], self.progress["epoch"] + 1, self.progress["batch"]))

    def warm_start_encoder(self, run_dir):
        """Copy a trained run's encoder (and embeddings) into this network.

        Raises
        ------
        Seq2SeqError
            If ``run_dir`` has no checkpoint, or its vocabulary is not this
            run's: an embedding row belongs to a word, so a vocabulary of the
            same size with other words (another corpus, vocabulary size or
            tokenizer) would fit every shape and still misalign every row.
        """
        from lasagne_seq2seq.rundir import RunDir
        source = RunDir(run_dir)
        vocab = source.load_vocab()
        if vocab != self.dataset.vocab:
            raise Seq2SeqError(
                "--init-encoder %s: its vocabulary (%s) differs from this run's (%s), so its "
                "embeddings belong to other words: train the v1 run on the same corpus and "
                "settings as this one (the data section of config.json, and --seed)"
                % (run_dir, source.vocab, self.run.vocab))
        path, checkpoint = source.load_checkpoint("best", vocab)
        self.net.set_param_values(checkpoint["params"], source=path, only=self.net.encoder_params)
        self.log("encoder initialised from %s (%d arrays)" % (path, len(self.net.encoder_params)))

    # ------------------------------------------------------------ validation
    def validate(self):
        """Per-token perplexity of the validation split (dropout off)."""
        function = self._validation_function()
        sums = np.zeros(2)
        for batch in self._validation_batches():
            sums += [float(value) for value in function(
                batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)]
        loss, tokens = self._total(sums)
        return perplexity(loss, tokens)

    def _validation_batches(self):
        """The validation batches this process scores."""
        return iterate_batches(self.dataset.valid, self.train_config.batch_size,
                               reverse_source=self.config.model.reverse_source)

    def _total(self, sums):
        """Sums over every process's share (one process: its own)."""
        return sums

    def sample_replies(self):
        """Greedy replies to the sample questions, as ``q -> r`` lines."""
        from lasagne_seq2seq.decode.decoder import Decoder
        if self._decoder is None:
            self._decoder = Decoder(self.net, self.dataset.vocab, self.config)
        replies = self._decoder.reply(self.sample_questions)
        return ["  %s -> %s" % (q, r.text) for q, r in zip(self.sample_questions, replies)]

    # ------------------------------------------------------------------ loop
    def _epoch_batches(self):
        progress = self.progress
        if progress["epoch_rng"] is None or progress["batch"] == 0:
            progress["epoch_rng"] = _rng_to_json(self.rng.get_state())
        else:
            self.rng.set_state(_rng_from_json(progress["epoch_rng"]))
        batches = self._shuffled_batches()
        self._batches_per_epoch = len(batches)
        return batches

    def _shuffled_batches(self):
        """One epoch of training batches, in an order drawn from ``self.rng``."""
        # One batch of --batch-size pairs per process and step.
        return list(iterate_batches(self.dataset.train,
                                    self.train_config.batch_size * self.world_size,
                                    rng=self.rng, buckets=self.buckets,
                                    reverse_source=self.config.model.reverse_source))

    def _stop_reason(self):
        tc, progress = self.train_config, self.progress
        if tc.max_steps and progress["step"] >= tc.max_steps:
            return "reached --max-steps %d" % tc.max_steps
        # The run's time, resumes included, as the schedule counts it (and
        # --max-steps its steps): a resumed run trains up to a larger budget.
        if tc.max_minutes and progress["elapsed_seconds"] >= tc.max_minutes * 60:
            return "reached --max-minutes %g%s" % (
                tc.max_minutes, " (the run's time, resumes included: resume with a larger "
                "--max-minutes to train on)" if self._resumed_from else "")
        if tc.patience and progress["bad_validations"] >= tc.patience:
            return "early stop: no better validation perplexity in %d checks" % tc.patience
        return None

    def _scheduled_rate(self, batches_per_epoch):
        """The next update's learning rate (:func:`scheduled_learning_rate`)."""
        progress = self.progress
        fraction = budget_fraction(self.train_config, progress["step"],
                                   progress["epoch"] + progress["batch"] / batches_per_epoch,
                                   progress["elapsed_seconds"])
        return scheduled_learning_rate(self.train_config, progress["step"], fraction)

    def train(self, progress_bar=True):
        """Train until the epochs, steps, minutes or patience run out.

        Returns
        -------
        dict
            The final progress record (step, best perplexity, tokens/s, ...).
        """
        from tqdm import tqdm
        tc, progress = self.train_config, self.progress
        progress["world_size"] = self.world_size
        started = time.time()
        seconds_before = progress["train_seconds"]
        elapsed_before = progress["elapsed_seconds"]
        tokens_before = progress["tokens"]
        scheduled = tc.lr_schedule != "constant" or tc.warmup_steps
        window_loss = window_tokens = rate = 0.0
        try:
            # A resumed run may have spent its budget already: no step then.
            reason = self._stop_reason()
            while reason is None and progress["epoch"] < tc.epochs:
                batches = self._epoch_batches()
                self.encoder_gate.set_value(np.float32(
                    0.0 if progress["epoch"] < tc.freeze_encoder_epochs else 1.0))
                bar = tqdm(total=len(batches), initial=progress["batch"], disable=not progress_bar,
                           desc="epoch %d/%d" % (progress["epoch"] + 1, tc.epochs),
                           dynamic_ncols=True, leave=False, mininterval=1.0)
                window_loss = window_tokens = 0.0
                for batch in batches[progress["batch"]:]:
                    # A bucket's fixed widths are the loops' unroll lengths.
                    function = self.train_function(
                        (batch.src.shape[1], batch.tgt_in.shape[1]) if self.buckets else None)
                    self._draw_candidates()
                    if scheduled:
                        self.learning_rate.set_value(np.float32(self._scheduled_rate(len(batches))))
                    step_started = time.time()
                    loss, tokens = self._run_step(function, batch)
                    if not math.isfinite(loss):
                        # last.npz is this run's only if it resumed or validated
                        # (an --overwrite run may still find the old run's file).
                        # A resumed run would repeat the same steps: it keeps --learning-rate.
                        if self._resumed_from or progress["history"]:
                            saved = (" (--resume keeps the learning rate); %s holds the last "
                                     "good state, for bin/test.py --checkpoint last"
                                     % self.run.checkpoint("last"))
                        else:
                            saved = ("; no checkpoint was written before it (the first comes "
                                     "with the first validation)")
                        raise Seq2SeqError(
                            "the loss became %s at step %d: lower --learning-rate (now %g) or "
                            "--max-grad-norm and start again with --overwrite%s"
                            % (loss, progress["step"] + 1, float(self.learning_rate.get_value()),
                               saved))
                    progress["train_seconds"] += time.time() - step_started
                    progress["tokens"] += int(tokens)
                    progress["step"] += 1
                    progress["batch"] += 1
                    window_loss += loss
                    window_tokens += tokens
                    rate = (progress["tokens"] - tokens_before) / max(
                        progress["train_seconds"] - seconds_before, 1e-9)
                    bar.set_postfix_str("loss %.3f ppl %.1f %.0f tok/s" % (
                        window_loss / window_tokens, perplexity(window_loss, window_tokens), rate),
                        refresh=False)
                    bar.update(1)
                    if tc.validate_every and progress["step"] % tc.validate_every == 0:
                        self._checkpoint_validation(window_loss, window_tokens, rate)
                        window_loss = window_tokens = 0.0
                    if tc.sample_every and self.sample_questions and \
                            progress["step"] % tc.sample_every == 0:
                        for line in self.sample_replies():
                            self.log(line)
                    progress["elapsed_seconds"] = elapsed_before + time.time() - started
                    reason = self._stop_reason()
                    if reason:
                        break
                bar.close()
                if reason is None:
                    progress["epoch"] += 1
                    progress["batch"] = 0
            if reason is None:
                reason = "completed %d epochs" % tc.epochs
            self._checkpoint_validation(window_loss, window_tokens, rate, final=True)
        except KeyboardInterrupt:
            if self.is_writer:
                self.save("last")
                self.run.commit()
            self.log("interrupted: saved %s at step %d; continue with --resume %s"
                     % (self.run.checkpoint("last"), progress["step"], self.run.path))
            raise
        progress["stop_reason"] = reason
        # This session's speed; a resume that trained no step reports the run's.
        if progress["tokens"] == tokens_before:
            tokens_before, seconds_before = 0, 0.0
        progress["tokens_per_second"] = (progress["tokens"] - tokens_before) / max(
            progress["train_seconds"] - seconds_before, 1e-9)
        if self.is_writer:
            self.save("last")
        return progress

    def _checkpoint_validation(self, window_loss, window_tokens, rate, final=False):
        progress = self.progress
        history = progress["history"]
        if final and history and history[-1]["step"] == progress["step"]:
            return
        # Per word, so that word and subword runs compare; also per token.
        valid_token_ppl = self.validate() if len(self.dataset.valid) else None
        valid_ppl = valid_token_ppl and word_perplexity(valid_token_ppl, self.dataset.vocab,
                                                        self.dataset.valid.tgt)
        epochs_done = progress["epoch"] + progress["batch"] / max(self._batches_per_epoch, 1)
        record = {"step": progress["step"], "epoch": round(epochs_done, 4),
                  "train_ppl": perplexity(window_loss, window_tokens) if window_tokens else None,
                  "valid_ppl": valid_ppl, "valid_token_ppl": valid_token_ppl,
                  "tokens_per_second": rate,
                  "learning_rate": float(self.learning_rate.get_value()),
                  "train_seconds": progress["train_seconds"]}
        history.append(record)
        improved = valid_ppl is not None and (progress["best_valid_ppl"] is None
                                              or valid_ppl < progress["best_valid_ppl"])
        if improved:
            progress["best_valid_ppl"], progress["best_step"] = valid_ppl, progress["step"]
            progress["bad_validations"] = 0
        elif valid_ppl is not None:
            progress["bad_validations"] += 1
        if self.is_writer:
            # best.npz first: a kill between the two then leaves a last.npz
            # whose best_step is one that best.npz holds.
            if improved:
                self.save("best")
            self.save("last")
            write_json(history, self.run.history)
            plot_history(history, self.run.curve)
            self.run.commit()
        self.log("step %d: train ppl %s, valid ppl %s%s, %.0f tok/s" % (
            progress["step"], "%.2f" % record["train_ppl"] if record["train_ppl"] else "-",
            "%.2f" % valid_ppl if valid_ppl is not None else "-",
            " (best)" if improved else "", rate))


def _rng_to_json(state):
    name, keys, position, has_gauss, cached = state
    return [name, keys.tolist(), int(position), int(has_gauss), float(cached)]


def _rng_from_json(values):
    name, keys, position, has_gauss, cached = values
    return (name, np.array(keys, dtype=np.uint32), position, has_gauss, cached)
