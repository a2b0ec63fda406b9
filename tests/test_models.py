"""Every architecture: the encoder is trained and saved with the decoder, and
the decoding step function scores a reply exactly as the training graph does."""
import numpy as np
import pytest

from lasagne_seq2seq.config import ModelConfig
from lasagne_seq2seq.data.batches import EncodedPairs, iterate_batches
from lasagne_seq2seq.models.registry import build_network
import theano
import theano.tensor as T

VOCAB = 23


@pytest.mark.parametrize("model, cell, depths, tie", [
    ("v1", "lstm", (1, 1), True), ("v2", "gru", (2, 1), False),
    ("simple", "lstm", (2, 2), True), ("lm", "gru", (1, 1), True)])
def test_step_function_reproduces_the_training_loss(model, cell, depths, tie):
    config = ModelConfig(model=model, cell=cell, embedding_size=6, hidden_size=10,
                         encoder_depth=depths[0], decoder_depth=depths[1], tie_embeddings=tie)
    net = build_network(config, VOCAB)
    names = {p.name for p in net.params}
    assert len(names) == len(net.params)  # unique names: checkpoints are unambiguous
    if model != "lm":
        assert set(net.encoder_params) <= set(net.params)  # trained and saved together

    rng = np.random.RandomState(1)
    pairs = EncodedPairs([rng.randint(4, VOCAB, n).astype("int32") for n in (3, 5, 2)],
                         [rng.randint(4, VOCAB, n).astype("int32") for n in (4, 1, 3)])
    batch = next(iterate_batches(pairs, 3))
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    loss_fn = theano.function(variables, net.loss(*variables, deterministic=True),
                              on_unused_input="ignore")
    arrays = [batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask]
    training_loss = float(loss_fn(*arrays))

    encode_fn, step_fn = net.compile_decoder()
    state, *extras = encode_fn(batch.src, batch.src_mask)
    decoding_loss = 0.0
    for t in range(batch.tgt_in.shape[1]):
        log_probs, state = step_fn(batch.tgt_in[:, t], state, *extras)[:2]
        np.testing.assert_allclose(np.exp(log_probs).sum(axis=1), 1.0, rtol=1e-5)
        picked = log_probs[np.arange(3), batch.tgt_out[:, t]]
        decoding_loss -= float((picked * batch.tgt_mask[:, t]).sum())
    np.testing.assert_allclose(decoding_loss, training_loss, rtol=1e-4)
