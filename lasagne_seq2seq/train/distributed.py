"""Synchronous data-parallel training over MPI (mpi4py), one process per rank.

Every step, the ranks share one global batch of ``N x --batch-size`` pairs
(``--batch-size`` is per rank, as in fairseq and OpenNMT-py): all draw the
same shuffled order and length bucket from the same seed, and rank ``r``
takes the ``r``-th of ``N`` contiguous slices. Each rank computes the
gradient of its slice's *summed* loss; the gradients and the token counts
are summed with ``Allreduce`` over a few contiguous float32 buffers (in
place, :class:`GradientBuckets`); every rank then divides by the global
token count and takes the same optimiser step, gradient clipping on the
global norm. The result is the step one process takes on the whole global
batch (up to float32 rounding), and the parameters and optimiser state stay
identical on every rank: they are broadcast from rank 0 at the start and
after a resume. Validation is sharded and reduced the same way.

Rank 0 alone writes the run directory (checkpoints, curve, history), logs
and answers the sample questions. A rank that fails prints its error,
naming itself, and aborts every rank (``MPI_Abort``); a rank that dies is
noticed by ``mpiexec``, which ends the others: no rank waits forever.

The processes, their collectives and launching them are
:mod:`lasagne_seq2seq.train.mpi`.
"""
import signal
import time

import numpy as np

from lasagne_seq2seq.backend.modes import compile_mode
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.train.mpi import GradientBuckets
from lasagne_seq2seq.train.trainer import Trainer

__all__ = ["DistributedTrainer", "check_distributable"]

#: The stop reason rank 0 broadcasts when it was interrupted.
_INTERRUPTED = "interrupted"


def check_distributable(config):
    """Refuse, in one line, what data-parallel training does not do yet.

    Raises
    ------
    Seq2SeqError
        For multi-turn training (conversations are batched in order, with
        state carried between steps), the norm-stabiliser (a batch mean that
        would need its own reduction) and per-layer GPU placement.
    """
    model = config.model
    refused = [(model.remember_state, "--remember-state (multi-turn training keeps each "
                                      "conversation's state in one process)"),
               (model.norm_stabilizer > 0, "--norm-stabilizer (its batch mean is not reduced "
                                           "across ranks)"),
               (bool(model.devices), "--devices (per-layer GPU placement)")]
    for refuse, what in refused:
        if refuse:
            raise Seq2SeqError("several workers cannot train with %s yet: train it in one "
                               "process (no --workers, no mpiexec)" % what)


class DistributedTrainer(Trainer):
    """A :class:`~lasagne_seq2seq.train.trainer.Trainer` that is one rank of a
    synchronous data-parallel run (see the module docstring).

    Parameters
    ----------
    world : World
        The ranks; the other parameters are the Trainer's.
    """

    def __init__(self, world, *args, **kwargs):
        super(DistributedTrainer, self).__init__(*args, **kwargs)
        self.world = world
        self.world_size, self.is_writer = world.size, world.rank == 0
        if world.rank != 0:
            self.sample_questions = []
        self._buckets = None
        self._update = None
        self._interrupted = False

    def _compile_step(self, shape, batch, loss_sum, penalty, memory, new_memory):
        """The gradients of this rank's summed loss; the update comes after
        the reduction (:meth:`_run_step`)."""
        import theano
        self._update_function()  # compiled here, outside the steps' timing
        grads = theano.grad(loss_sum, self.trainable_params)
        function = theano.function(batch, [loss_sum, batch[4].sum()] + grads,
                                   name="gradients_%s" % (shape,), on_unused_input="ignore",
                                   mode=compile_mode())
        # Every rank meets each bucket at the same step: wait here for the
        # slowest compile (a rank with a cold cache), not in the timed step.
        self.world.barrier()
        return function

    def _update_function(self):
        """The optimiser's step on the reduced, per-token gradients."""
        if self._update is None:
            import theano
            placeholders, updates, norm = self._optimizer_updates()
            self._update = theano.function(placeholders, norm, updates=updates, name="update",
                                           mode=compile_mode())
        return self._update

    def _run_step(self, function, batch):
        rows = len(batch.src)
        start = rows * self.world.rank // self.world_size
        stop = rows * (self.world.rank + 1) // self.world_size
        loss = tokens = 0.0
        grads = None
        if stop > start:
            outputs = function(batch.src[start:stop], batch.src_mask[start:stop],
                               batch.tgt_in[start:stop], batch.tgt_out[start:stop],
                               batch.tgt_mask[start:stop])
            loss, tokens, grads = float(outputs[0]), float(outputs[1]), outputs[2:]
        if self._buckets is None:
            self._buckets = GradientBuckets([p.get_value(borrow=True).shape
                                             for p in self.trainable_params])
        reduce_started = time.perf_counter()
        loss, tokens, summed = self._buckets.reduce(self.world, loss, tokens, grads)
        self.progress["allreduce_seconds"] = (self.progress.get("allreduce_seconds", 0.0)
                                              + time.perf_counter() - reduce_started)
        scale = np.float32(1.0 / max(tokens, 1.0))
        self._update_function()(*[grad * scale for grad in summed])
        return loss, tokens

    def _validation_batches(self):
        batches = list(super(DistributedTrainer, self)._validation_batches())
        return batches[self.world.rank::self.world_size]

    def _total(self, sums):
        return self.world.sum_in_place(np.asarray(sums, dtype=np.float32)).astype(np.float64)

    def _stop_reason(self):
        # Rank 0 decides, so that every rank stops at the same step: its
        # clock for --max-minutes, and whether it was interrupted. Its clock
        # also sets every rank's --lr-schedule, so the ranks' updates agree.
        reason = super(DistributedTrainer, self)._stop_reason()
        if self._interrupted and reason is None:
            reason = _INTERRUPTED
        reason, self.progress["elapsed_seconds"] = self.world.broadcast(
            (reason, self.progress["elapsed_seconds"]))
        if reason == _INTERRUPTED:
            raise KeyboardInterrupt
        return reason

    def _interrupt(self, signum, frame):
        self._interrupted = True

    def train(self, progress_bar=True):
        """Train as :meth:`Trainer.train`; SIGINT, SIGTERM (Slurm's ``scancel``)
        and SIGUSR1 (which ``mpiexec`` forwards to every rank; ``--workers``
        sends it on Ctrl-C) end every rank at the same step, and rank 0 saves
        ``last.npz`` once.

        A rank cannot stop in the middle of a step: the others would wait in
        its Allreduce. The signal is noted and the ranks stop together after
        the step.
        """
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
        previous = {signum: signal.signal(signum, self._interrupt) for signum in handled}
        try:
            return super(DistributedTrainer, self).train(progress_bar)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def synchronise(self):
        """Rank 0's parameters and optimiser state, on every rank."""
        for variable in list(self.net.params) + self.optimizer_state():
            value = np.array(variable.get_value(), order="C")  # 0-d stays 0-d
            variable.set_value(self.world.broadcast_array(value))
