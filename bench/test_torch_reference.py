"""bench/run.py and its PyTorch reference compute the same: losses, a training
step, greedy replies. Needs PyTorch (bench/README.md), which the project's
tests do not: run it as ``.venv/bin/python -m pytest bench/test_torch_reference.py``.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the reference needs PyTorch; nothing else here does

BENCH = Path(__file__).resolve().parent
#: Small sizes for the Theano-PyTorch comparison: (vocabulary, embedding,
#: hidden), batch and length. Embedding and hidden differ, so the output
#: projection is in the network, as at the benchmark's sizes.
DIMS, BATCH, LENGTH = (50, 8, 16), 4, 5

sys.path.insert(0, str(BENCH.parent / "tests"))
from test_bench import bench_run  # noqa: E402,F401  (bench/run.py as a module, the fixture)


def test_theano_and_pytorch_compute_the_same_loss_and_training_step(bench_run):
    relative, parameters = bench_run.check_same_math("default", DIMS, BATCH, LENGTH)
    assert relative["loss sum"] < 1e-6 and relative["gradient norm"] < 1e-5, relative
    assert sorted(parameters) == sorted(
        ["source_embedding.W", "output_projection.W", "output_projection.b", "output.b"]
        + ["%s0.%s" % (layer, name) for layer in ("encoder", "decoder")
           for name in ("W_in", "W_hid", "b")])
    # Adam's first step is the learning rate times g / (|g| + eps) for every
    # entry, so an entry of the gradient near eps (3e-7 here) turns float32
    # rounding (exp and tanh to within an ulp or two, a different summation
    # order) into up to ~0.2% of a step (1.5e-6 for one encoder bias entry
    # with the fused LSTM, 4e-7 with the unrolled steps). A formula that is
    # not the same moves entries by a whole step (1e-3): 1% of one is the bar.
    for name, (difference, moved) in parameters.items():
        assert moved > 5e-4, (name, moved)  # the step changed it (by about the learning rate)
        assert difference < 1e-5, (name, difference, moved)


def test_greedy_ids_are_the_decoders_replies_and_pytorchs(bench_run):
    from torch_reference import TorchSeq2Seq, copy_theano_weights, greedy_decode
    from lasagne_seq2seq.decode.decoder import Decoder
    config, vocab, net, _ = bench_run.theano_setup("default", "compat", DIMS)
    # Larger weights than at initialisation: replies that vary by question.
    for param in net.params:
        param.set_value(3 * param.get_value())
    bench_run.forbid_specials(net, vocab)
    decoder = Decoder(net, vocab, config, max_len=LENGTH)
    questions = bench_run.random_batch(len(vocab), np.random.RandomState(1), BATCH, LENGTH)[0]
    # The decoder reverses each question, as the network was trained.
    src = questions[:, ::-1].copy() if config.model.reverse_source else questions
    ids = bench_run.theano_greedy(decoder.encode_fn, decoder.step_fn, src, vocab.start_id, LENGTH)
    texts = [" ".join(vocab.tokens[i] for i in row) for row in questions]
    replies = [vocab.encode(reply.tokens) for reply in decoder.greedy(texts)]
    assert ids.tolist() == replies
    assert len({tuple(row) for row in replies}) > 1 and vocab.eos_id not in ids
    model = TorchSeq2Seq(len(vocab), config.model.embedding_size, config.model.hidden_size)
    copy_theano_weights(net, model)
    assert greedy_decode(model, torch.from_numpy(src.astype(np.int64)), vocab.start_id,
                         LENGTH).tolist() == ids.tolist()
