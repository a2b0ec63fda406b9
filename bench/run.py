#!/usr/bin/env python
"""Benchmark runner: compile time, training throughput, memory, decoding speed.

For each size (presets ``default`` and ``paper``) and each Theano variant it
starts fresh processes and measures, on the v1 network with full-length
random batches (batch 64, 15 source and 15+1 target steps):

- compile time of the training step, cold (empty compile cache) and cached;
- steady-state training throughput in target tokens/s (and ms per step);
- peak resident memory of the process;
- greedy latency for one question and batched greedy throughput (64
  questions at once), replies of exactly 15 tokens (EOS is masked out so
  every system decodes the same number of steps), at two levels: *ids*, a
  loop over the compiled encoder and decoder step with token ids in and
  out (:func:`theano_greedy`, what ``torch_reference.greedy_decode`` does),
  and *text*, :meth:`lasagne_seq2seq.decode.decoder.Decoder.decode` from question
  strings to reply strings (tokenizing, vocabulary lookups, the search's
  bookkeeping, detokenizing: what a user waits for); beam-10 latency, text.

When PyTorch is installed it runs ``bench/torch_reference.py`` (the same
network and math, the preset's dropout included) in its own process and
prints the ratio ours/PyTorch (above 1: Theano is faster) of the rows both
measure alike: training and greedy decoding of ids. Every process uses
every core (Theano through its BLAS, PyTorch through its intra-op threads).
``--check`` shows that the math is the same: both networks from the same
weights without dropout, the loss of one batch and the parameters after one
training step, compared.

    .venv/bin/python bench/run.py                       # default size, all variants
    .venv/bin/python bench/run.py --sizes default,paper --json bench.json
    .venv/bin/python bench/run.py --variants compat --no-cold --no-torch
    .venv/bin/python bench/run.py --profile             # Theano's profile of a step
    .venv/bin/python bench/run.py --check               # the same math as PyTorch?

Variants (each a process with its own flags; see :data:`VARIANTS`):
``compat`` is the package as it is; ``openmp`` and ``openmp200k`` add OpenMP
elementwise ops (above 20,000 or 200,000 elements); ``avx512`` lets OpenBLAS
pick its kernels by CPU instead of the environment's ``OPENBLAS_CORETYPE``;
``sampled1024`` trains with sampled softmax over 1,024 candidate words (not
the reference's math: its ratio is a speed-up, not a like-for-like figure);
``jax`` compiles with ``--backend jax`` (XLA, here on the CPU; ``bench/gpu.sh``
on an NVIDIA GPU), where XLA compiles at a function's first call, which its
compile times include.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

BATCH, LENGTH = 64, 15

#: Theano variants: extra THEANO_FLAGS, extra environment of the process,
#: sampled-softmax candidates (0: the full softmax, the same math as PyTorch)
#: and the back end (``--backend``).
VARIANTS = {
    "compat": dict(flags="", env={}, sampled_softmax=0, backend="c"),
    "openmp": dict(flags="openmp=True,openmp_elemwise_minsize=20000", env={}, sampled_softmax=0,
                   backend="c"),
    # Theano's default threshold (200,000 elements): only the optimiser's
    # elementwise ops on large parameters run in parallel, not the cells' steps.
    "openmp200k": dict(flags="openmp=True", env={}, sampled_softmax=0, backend="c"),
    # This machine's environment pins OpenBLAS to its AVX2 ("Haswell")
    # kernels (OPENBLAS_CORETYPE=Haswell); empty lets OpenBLAS pick by CPU
    # (AVX-512 here), as PyTorch's own libraries always do.
    "avx512": dict(flags="", env={"OPENBLAS_CORETYPE": ""}, sampled_softmax=0, backend="c"),
    # Not the same math as the reference: a training-speed option (README).
    "sampled1024": dict(flags="", env={}, sampled_softmax=1024, backend="c"),
    # The same graphs through XLA (theano-pymc's JAX linker): bash setup.sh --with-jax.
    "jax": dict(flags="", env={}, sampled_softmax=0, backend="jax"),
}


# --------------------------------------------------------------- helpers
def peak_memory_mb():
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_model():
    """The processor's name as Linux reports it (``unknown`` elsewhere), with
    the widest vector extension it offers: the matrix products' speed depends
    on it."""
    try:
        with open("/proc/cpuinfo") as handle:
            info = handle.read()
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines()
                  if line.startswith("flags")), [])
    vector = next((v for v in ("avx512f", "avx2", "sse4_2") if v in flags), "")
    return "%s, %s" % (name, vector) if vector else name


def median_seconds(function, repeats):
    """Median wall time of ``repeats`` calls of ``function()``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def sizes_of(size):
    """(vocabulary, embedding, hidden) of a preset."""
    from lasagne_seq2seq.config import preset
    config = preset(size)
    return config.data.vocab_size, config.model.embedding_size, config.model.hidden_size


def random_batch(vocab_size, rng, batch=BATCH, length=LENGTH):
    """One full-length batch: src, src_mask, tgt_in, tgt_out, tgt_mask (START=2, EOS=3)."""
    src = rng.randint(4, vocab_size, (batch, length)).astype(np.int32)
    reply = rng.randint(4, vocab_size, (batch, length)).astype(np.int32)
    tgt_in = np.concatenate([np.full((batch, 1), 2, np.int32), reply], axis=1)
    tgt_out = np.concatenate([reply, np.full((batch, 1), 3, np.int32)], axis=1)
    return (src, np.ones(src.shape, np.float32), tgt_in, tgt_out,
            np.ones(tgt_in.shape, np.float32))


def busy_cpu_seconds():
    """CPU seconds every process on the machine has used since boot (Linux)."""
    with open("/proc/stat") as handle:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, handle.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed_steps(function, repeats):
    """Median seconds of ``repeats`` calls, and the share of the machine's
    CPU (percent of every core) that other processes used meanwhile: above a
    few percent the figures are disturbed."""
    busy, own, started = busy_cpu_seconds(), sum(os.times()[:2]), time.perf_counter()
    seconds = median_seconds(function, repeats)
    wall = time.perf_counter() - started
    others = (busy_cpu_seconds() - busy) - (sum(os.times()[:2]) - own)
    return seconds, max(0.0, 100.0 * others / (wall * os.cpu_count()))


# ------------------------------------------------------------ Theano side
def theano_setup(size, variant, dims=None, dropout=None):
    """The configuration, vocabulary, network and trainer for ``size`` (imports Theano).

    ``dims``, when given, replaces the preset's (vocabulary, embedding,
    hidden) sizes (the tests' small networks); ``dropout`` the preset's
    dropout (0 where the two networks must compute the same numbers).
    """
    import lasagne_seq2seq  # noqa: F401  (before Theano)
    import lasagne
    from lasagne_seq2seq.backend.modes import select_backend
    from lasagne_seq2seq.rundir import RunDir
    from lasagne_seq2seq.config import preset
    from lasagne_seq2seq.data.batches import Dataset, EncodedPairs
    from lasagne_seq2seq.models.registry import build_network
    from lasagne_seq2seq.train.trainer import Trainer
    from lasagne_seq2seq.data.vocab import SPECIALS, Vocabulary
    config = preset(size)
    config.data.max_src_len = config.data.max_tgt_len = LENGTH
    config.train.buckets, config.train.batch_size = 1, BATCH
    config.train.sampled_softmax = VARIANTS[variant]["sampled_softmax"]
    select_backend(VARIANTS[variant]["backend"])
    if dims:
        config.data.vocab_size, config.model.embedding_size, config.model.hidden_size = dims
    if dropout is not None:
        config.model.dropout = dropout
    vocab = Vocabulary(list(SPECIALS) + ["w%d" % i for i in range(config.data.vocab_size - 4)])
    # Seeded as train_run seeds it: every run (and --check) starts from the same weights.
    lasagne.random.set_rng(np.random.RandomState(config.train.seed))
    net = build_network(config.model, len(vocab))
    dataset = Dataset(vocab, EncodedPairs(), EncodedPairs(), EncodedPairs(), {})
    trainer = Trainer(net, dataset, config, RunDir(tempfile.mkdtemp()), log=lambda line: None)
    return config, vocab, net, trainer


def forbid_specials(net, vocab):
    """Make the special tokens lose every step: every reply runs to the
    length cap (no EOS) and holds words only, as the decoder's do (it never
    emits ``<unk>``, nor padding or the start token)."""
    bias = net.l_logits.b.get_value()
    bias[[vocab.pad_id, vocab.unk_id, vocab.start_id, vocab.eos_id]] = -1e4
    net.l_logits.b.set_value(bias)


def theano_greedy(encode_fn, step_fn, src, start_id, max_len):
    """Greedy replies of ``max_len`` token ids (no EOS stop) to full-length
    questions ``src`` (ids), on the network's compiled encoder and step
    (:meth:`lasagne_seq2seq.models.base.EncoderDecoder.compile_decoder`, which
    :class:`~lasagne_seq2seq.decode.decoder.Decoder` runs too): what
    ``torch_reference.greedy_decode`` does, in NumPy.

    Returns
    -------
    int32 array ``(batch, max_len)``
    """
    state, *extras = encode_fn(src, np.ones(src.shape, np.float32))
    previous = np.full(len(src), start_id, np.int32)
    tokens = []
    for _ in range(max_len):
        log_probs, state = step_fn(previous, state, *extras)[:2]
        previous = log_probs.argmax(axis=1).astype(np.int32)
        tokens.append(previous)
    return np.stack(tokens, axis=1)


def compiled_step(trainer, batch):
    """The trainer's training step and the seconds it took to compile.

    With the JAX back end XLA compiles at the first call, so the seconds
    include one call on ``batch``; with the C back end Theano has compiled
    everything when ``train_function`` returns.
    """
    from lasagne_seq2seq.backend.modes import current_backend
    started = time.time()
    step = trainer.train_function((LENGTH, LENGTH + 1))
    if current_backend() == "jax":
        step(*batch)
    return step, time.time() - started


def theano_compile(size, variant):
    """Seconds to compile the training step (cold or cached: the caller's cache)."""
    _, vocab, _, trainer = theano_setup(size, variant)
    _, seconds = compiled_step(trainer, random_batch(len(vocab), np.random.RandomState(0)))
    return {"compile_s": seconds}


def theano_measure(size, variant, steps):
    """Compile (cached), then training throughput and decoding speed."""
    config, vocab, net, trainer = theano_setup(size, variant)
    from lasagne_seq2seq.decode.options import DecodeOptions
    from lasagne_seq2seq.decode.decoder import Decoder
    rng = np.random.RandomState(0)
    batches = [random_batch(len(vocab), rng) for _ in range(4)]
    step, seconds = compiled_step(trainer, batches[0])
    results = {"compile_cached_s": seconds}
    for batch in batches[:2]:
        step(*batch)  # warm-up: first calls allocate the kept buffers

    def train_step():
        if config.train.sampled_softmax:
            trainer._draw_candidates()  # as the training loop does
        step(*batches[rng.randint(len(batches))])
    seconds, others = timed_steps(train_step, steps)
    results.update(train_tokens_per_s=BATCH * (LENGTH + 1) / seconds, train_ms_per_step=1e3 * seconds,
                   others_cpu_percent=others)

    # Decoding: EOS can never win, so every reply has exactly LENGTH tokens.
    forbid_specials(net, vocab)
    decoder = Decoder(net, vocab, config, max_len=LENGTH)
    # ids: the questions torch_measure decodes (the same generator's first batch).
    src = batches[0][0]

    def greedy_ids(questions):
        return theano_greedy(decoder.encode_fn, decoder.step_fn, questions, vocab.start_id, LENGTH)
    greedy_ids(src[:1])  # warm-ups (with JAX, XLA compiles for each batch size)
    greedy_ids(src)
    results["greedy_ids_ms"] = 1e3 * median_seconds(lambda: greedy_ids(src[:1]), 10)
    results["batched_ids_replies_per_s"] = BATCH / median_seconds(lambda: greedy_ids(src), 5)
    # text: the same words as strings, through the Decoder.
    questions = [" ".join(vocab.tokens[i] for i in ids) for ids in src]
    greedy, beam = DecodeOptions(strategy="greedy"), DecodeOptions(strategy="beam", beam=10)
    decoder.decode(questions[:1], beam)  # warm-up
    results["greedy_text_ms"] = 1e3 * median_seconds(
        lambda: decoder.decode(questions[:1], greedy), 10)
    results["beam10_text_ms"] = 1e3 * median_seconds(
        lambda: decoder.decode(questions[:1], beam), 5)
    results["batched_text_replies_per_s"] = BATCH / median_seconds(
        lambda: decoder.decode(questions, greedy), 5)
    results["peak_mb"] = peak_memory_mb()
    return results


# ----------------------------------------------------------- PyTorch side
def torch_batch(batch):
    """A :func:`random_batch` as the reference's step takes it: no source
    mask (the questions are full length), int64 ids."""
    import torch
    src, _, tgt_in, tgt_out, tgt_mask = batch
    return [torch.from_numpy(a.astype(np.int64) if a.dtype == np.int32 else a)
            for a in (src, tgt_in, tgt_out, tgt_mask)]


def torch_measure(size, steps, device="cpu"):
    """The reference network's training throughput and greedy decoding speed
    on ``device`` (``"cuda"``: an NVIDIA GPU, ``bench/gpu.sh``)."""
    import torch
    from torch_reference import TorchSeq2Seq, greedy_decode, training_step
    torch.manual_seed(0)
    from lasagne_seq2seq.config import preset
    vocab_size, embedding_size, hidden_size = sizes_of(size)
    model = TorchSeq2Seq(vocab_size, embedding_size, hidden_size,
                         preset(size).model.dropout).to(device)
    step = training_step(model)
    rng = np.random.RandomState(0)
    batches = [[a.to(device) for a in torch_batch(random_batch(vocab_size, rng))]
               for _ in range(4)]
    for batch in batches[:2]:
        step(*batch)
    seconds, others = timed_steps(lambda: step(*batches[rng.randint(len(batches))]), steps)
    results = {"train_tokens_per_s": BATCH * (LENGTH + 1) / seconds,
               "train_ms_per_step": 1e3 * seconds, "others_cpu_percent": others,
               "threads": torch.get_num_threads()}
    model.eval()
    src = batches[0][0]

    def greedy_ids(questions):  # the ids back on the host, as Theano returns them
        return greedy_decode(model, questions, 2, LENGTH).cpu()
    greedy_ids(src[:1])
    results["greedy_ids_ms"] = 1e3 * median_seconds(lambda: greedy_ids(src[:1]), 10)
    results["batched_ids_replies_per_s"] = BATCH / median_seconds(lambda: greedy_ids(src), 5)
    results["peak_mb"] = peak_memory_mb()
    results["version"] = torch.__version__
    return results


# ---------------------------------------------------------- the same math
def check_same_math(size, dims=None, batch=BATCH, length=LENGTH):
    """Both networks from the same weights, without dropout: how far apart
    are their losses and, after one training step each, their parameters?

    The batch has full-length questions and, in every other row, a reply
    half as long (its target mask ends early). Both steps are the ones
    timed: the Trainer's compiled step and ``torch_reference.training_step``,
    with the configuration's learning rate and clipping.

    Parameters
    ----------
    size : str
        A preset.
    dims : (vocabulary, embedding, hidden), optional
        Replace the preset's sizes (see :func:`theano_setup`).
    batch, length : int

    Returns
    -------
    relative : dict
        Relative differences of ``loss sum`` (the batch's, before the update)
        and ``gradient norm`` (the total, before clipping).
    parameters : dict
        Each parameter's name to ``(difference, moved)``: its largest
        absolute difference after the step, and the largest change the step
        made to it in Theano.
    """
    from torch_reference import TorchSeq2Seq, copy_theano_weights, parameter_differences, \
        training_step
    config, vocab, net, trainer = theano_setup(size, "compat", dims, dropout=0.0)
    arrays = random_batch(len(vocab), np.random.RandomState(0), batch, length)
    arrays[4][::2, length // 2 + 1:] = 0
    model = TorchSeq2Seq(len(vocab), config.model.embedding_size, config.model.hidden_size)
    copy_theano_weights(net, model)
    before = {p.name: p.get_value() for p in net.params}
    theano_loss, _, theano_norm = trainer.train_function((length, length + 1))(*arrays)
    torch_loss, torch_norm = training_step(model, config.train.max_grad_norm,
                                           config.train.learning_rate)(*torch_batch(arrays))
    relative = {"loss sum": abs(float(theano_loss) - torch_loss) / abs(torch_loss),
                "gradient norm": abs(float(theano_norm) - torch_norm) / torch_norm}
    after = {p.name: p.get_value() for p in net.params}
    parameters = {name: (difference, float(abs(after[name] - before[name]).max()))
                  for name, difference in parameter_differences(net, model).items()}
    return relative, parameters


def print_same_math(size):
    """``--check``: :func:`check_same_math` at a preset's sizes."""
    relative, parameters = check_same_math(size)
    print("%s  (vocabulary %d, embedding %d, hidden %d; batch %d, length %d): Theano and "
          "PyTorch from the same weights" % ((size,) + sizes_of(size) + (BATCH, LENGTH)))
    for name, difference in relative.items():
        print("  %-36s %10.1e  (relative)" % (name, difference))
    print("  %-36s %10s %16s" % ("after one training step", "difference", "largest change"))
    for name, (difference, moved) in parameters.items():
        print("  %-36s %10.1e %16.1e" % (name, difference, moved))


# ------------------------------------------------------------------ runner
def run_child(kind, size, variant, steps, compiledir, profile=False, torch_device="cpu"):
    """Run one measurement in a fresh process; returns its JSON result.

    Parameters
    ----------
    kind : {"theano-cold", "theano", "torch"}
    size, variant : str
    steps : int
        Timed training steps.
    compiledir : str or None
        Theano's compile cache for this run (empty before the cold compile);
        None: the package's usual cache.
    profile : bool
        Print Theano's profile of every function the process runs.
    torch_device : str
        Where PyTorch runs (``kind`` torch): ``cpu`` or ``cuda``.
    """
    env = dict(os.environ)
    if kind != "torch":
        flags = ["base_compiledir=%s" % compiledir if compiledir else "", VARIANTS[variant]["flags"],
                 "profile=True" if profile else ""]
        env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS", "")] + flags))
        env.update(VARIANTS[variant]["env"])
    command = [sys.executable, os.path.abspath(__file__), "--child", kind, "--sizes", size,
               "--variants", variant or "none", "--steps", str(steps),
               "--torch-device", torch_device]
    process = subprocess.run(command, env=env, capture_output=True, text=True)
    if process.returncode != 0:
        raise RuntimeError("%s %s %s failed:\n%s" % (kind, size, variant, process.stderr[-3000:]))
    if profile:
        print(process.stdout + process.stderr)
    return json.loads(process.stdout.strip().splitlines()[-1])


def measure_variant(size, variant, steps, cold):
    """Every Theano figure of one variant: a cold compile (empty cache), then the rest."""
    if not cold:
        return run_child("theano", size, variant, steps, None)
    with tempfile.TemporaryDirectory() as compiledir:
        result = run_child("theano-cold", size, variant, steps, compiledir)
        result.update(run_child("theano", size, variant, steps, compiledir))
    return result


def child_main(kind, size, variant, steps, torch_device):
    if kind == "theano-cold":
        result = theano_compile(size, variant)
    elif kind == "theano":
        result = theano_measure(size, variant, steps)
    else:
        result = torch_measure(size, steps, torch_device)
    print(json.dumps(result))


ROWS = (
    ("compile_s", "compile, cold (s)", "%.1f"),
    ("compile_cached_s", "compile, cached (s)", "%.1f"),
    ("train_tokens_per_s", "training (target tokens/s)", "%.0f"),
    ("train_ms_per_step", "training (ms/step)", "%.1f"),
    ("others_cpu_percent", "other processes' CPU (%)", "%.0f"),
    ("peak_mb", "peak memory (MiB)", "%.0f"),
    ("greedy_ids_ms", "greedy ids, 1 question (ms)", "%.1f"),
    ("batched_ids_replies_per_s", "greedy ids, batch 64 (replies/s)", "%.0f"),
    ("greedy_text_ms", "greedy text, 1 question (ms)", "%.1f"),
    ("beam10_text_ms", "beam 10 text, 1 question (ms)", "%.1f"),
    ("batched_text_replies_per_s", "greedy text, batch 64 (replies/s)", "%.0f"),
)
#: Rows compared with PyTorch, and whether a larger value is better: those
#: both systems measure alike (PyTorch decodes ids only, so no text rows).
RATIO_ROWS = {"train_tokens_per_s": True, "greedy_ids_ms": False,
              "batched_ids_replies_per_s": True}


def format_size_table(size, columns):
    """One size's figures, a column per system, and each variant's ratio to PyTorch."""
    names = list(columns)
    torch_result = columns.get("pytorch")
    if torch_result:
        names += ["%s/pytorch" % name for name in columns if name != "pytorch"]
    width = max(len(label) for _, label, _ in ROWS) + 2
    lines = ["%s  (vocabulary %d, embedding %d, hidden %d; batch %d, length %d)"
             % ((size,) + sizes_of(size) + (BATCH, LENGTH)),
             "%-*s" % (width, "") + "".join("%16s" % name for name in names)]
    for key, label, form in ROWS:
        cells = []
        for name in names:
            system, _, ratio = name.partition("/")
            value = columns[system].get(key)
            if ratio and (key not in RATIO_ROWS or value is None):
                cells.append("")
            elif ratio:
                other = torch_result[key]
                cells.append("%.2fx" % (value / other if RATIO_ROWS[key] else other / value))
            else:
                cells.append(form % value if value is not None else "-")
        lines.append("%-*s" % (width, label) + "".join("%16s" % cell for cell in cells))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="default", help="presets: default, paper (comma list)")
    parser.add_argument("--variants", default="compat,openmp",
                        help="Theano variants (%s)" % ", ".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold compile")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    parser.add_argument("--torch-device", default="cpu",
                        help="where the PyTorch reference runs: cpu, or cuda (bench/gpu.sh)")
    parser.add_argument("--profile", action="store_true",
                        help="print Theano's profile of the first variant's functions")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--check", action="store_true",
                        help="compare the loss and one training step with PyTorch's from the "
                             "same weights (largest differences) instead of timing")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes, variants = args.sizes.split(","), args.variants.split(",")
    if args.child:
        return child_main(args.child, sizes[0], variants[0], args.steps, args.torch_device)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error("unknown variants %s: choose from %s" % (unknown, ", ".join(VARIANTS)))
    if args.profile:
        run_child("theano", sizes[0], variants[0], args.steps, None, profile=True)
        return 0
    try:
        import torch  # noqa: F401
        has_torch = not args.no_torch
    except ImportError:
        if args.check:
            parser.error("--check compares with PyTorch, which is not installed: "
                         "pip install torch (bench/README.md)")
        has_torch = False
        print("PyTorch is not installed: no reference column (pip install torch)")
    if args.check:
        for size in sizes:
            print_same_math(size)
        return 0
    print("machine: %s (%s), %d cores visible, load average %.1f at start"
          % (cpu_model(), os.uname().machine, os.cpu_count(), os.getloadavg()[0]))
    everything = {}
    for size in sizes:
        columns = {}
        for variant in variants:
            try:
                columns[variant] = measure_variant(size, variant, args.steps, not args.no_cold)
            except RuntimeError as error:  # one broken variant must not hide the others
                print(error)
        if has_torch:
            columns["pytorch"] = run_child("torch", size, None, args.steps, None,
                                           torch_device=args.torch_device)
        everything[size] = columns
        print(format_size_table(size, columns))
        print()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(everything, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
