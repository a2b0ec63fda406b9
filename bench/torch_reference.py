"""The v1 network of lasagne_seq2seq in PyTorch: the benchmark's yardstick.

Same sizes and the same math as :class:`lasagne_seq2seq.models.seq2seq.Seq2Seq` with
its defaults (``--model v1 --cell lstm``, shared and tied embeddings): one
embedding matrix for questions, replies and the output layer; an LSTM encoder
(gates input, forget, cell, output; no peepholes) whose final ``(h, c)``
starts an LSTM decoder; the decoder's output projected to the embedding size
when the two differ; logits = projection times the transposed embeddings plus
a bias; dropout on both embeddings and the decoder's output (the Theano
network's ``--dropout``); summed masked cross-entropy; Adam on the per-token
mean with the total gradient norm clipped to 5. The benchmark feeds full-length questions,
so the Theano encoder's masks are all ones and PyTorch's unmasked ``nn.LSTM``
computes the same states (padding at the end of the replies is harmless: the
decoder never looks ahead, and the loss is masked). ``nn.LSTM`` has two bias
vectors where the Theano cell has one: ``bias_hh`` stays zero and out of
training (4 x hidden extra additions per step).

:func:`copy_theano_weights` loads a Theano network's weights, and
:func:`parameter_differences` compares them afterwards, which is how
``bench/run.py --check`` and ``bench/test_torch_reference.py`` show that the math is
the same. Only those two import this module, and only when torch is installed.
"""
import torch
import torch.nn.functional as F
from torch import nn


class TorchSeq2Seq(nn.Module):
    """v1 encoder-decoder with tied embeddings.

    Parameters
    ----------
    vocab_size, embedding_size, hidden_size : int
    dropout : float
        Dropout on the embedded questions and replies and on the decoder's
        output in training, as the Theano network's ``--dropout``.
    """

    def __init__(self, vocab_size, embedding_size, hidden_size, dropout=0.0):
        super().__init__()
        self.dropout = dropout
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.encoder = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.decoder = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.projection = (nn.Linear(hidden_size, embedding_size)
                           if hidden_size != embedding_size else None)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size))
        for lstm in (self.encoder, self.decoder):  # the Theano cell's one bias is bias_ih
            lstm.bias_hh_l0.data.zero_()
            lstm.bias_hh_l0.requires_grad_(False)

    def loss(self, src, tgt_in, tgt_out, tgt_mask):
        """Summed cross-entropy of the real target tokens (teacher forcing)."""
        _, thought = self.encoder(self._dropout(self.embedding(src)))
        outputs, _ = self.decoder(self._dropout(self.embedding(tgt_in)), thought)
        outputs = self._dropout(outputs.reshape(-1, outputs.shape[-1]))
        if self.projection is not None:
            outputs = self.projection(outputs)
        logits = torch.addmm(self.output_bias, outputs, self.embedding.weight.t())
        token_losses = F.cross_entropy(logits, tgt_out.reshape(-1), reduction="none")
        return (token_losses * tgt_mask.reshape(-1)).sum()

    def _dropout(self, x):
        # Where Lasagne's DropoutLayers are: on both embeddings and the decoder's output.
        return F.dropout(x, self.dropout, self.training) if self.dropout else x

    @torch.no_grad()
    def encode(self, src):
        """The decoder's initial ``(h, c)`` for a batch of questions."""
        return self.encoder(self.embedding(src))[1]

    @torch.no_grad()
    def step(self, previous, state):
        """One greedy decoder step: log-probabilities and the new state."""
        outputs, state = self.decoder(self.embedding(previous)[:, None, :], state)
        outputs = outputs[:, 0]
        if self.projection is not None:
            outputs = self.projection(outputs)
        logits = torch.addmm(self.output_bias, outputs, self.embedding.weight.t())
        return F.log_softmax(logits, dim=1), state


#: Adam's epsilon that gives Lasagne's first update: Lasagne adds its 1e-8 to
#: ``sqrt(v)`` before the bias correction ``sqrt(1 - beta2^t)``, PyTorch after
#: it, so the two agree at step t when PyTorch's is ``1e-8 / sqrt(1 - beta2^t)``.
#: Later steps differ in that term only (Lasagne's falls towards 1e-8), which
#: changes nothing in the timings.
LASAGNE_FIRST_STEP_EPSILON = 1e-8 / (1 - 0.999) ** 0.5


def training_step(model, max_grad_norm=5.0, learning_rate=0.001,
                  epsilon=LASAGNE_FIRST_STEP_EPSILON):
    """A compiled-equivalent training step: ``step(src, tgt_in, tgt_out, mask)``.

    Parameters
    ----------
    model : TorchSeq2Seq
    max_grad_norm : float
        Total-norm clipping, as the Theano trainer.
    learning_rate : float
        Adam's step size.
    epsilon : float
        Adam's epsilon (see :data:`LASAGNE_FIRST_STEP_EPSILON`).

    Returns
    -------
    callable
        ``step(...) -> (loss_sum, gradient_norm)``: the batch's summed loss
        before the update and the total gradient norm before clipping, as
        the Theano training step returns them.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=learning_rate, eps=epsilon)

    def step(src, tgt_in, tgt_out, tgt_mask):
        optimizer.zero_grad(set_to_none=True)
        loss_sum = model.loss(src, tgt_in, tgt_out, tgt_mask)
        (loss_sum / tgt_mask.sum()).backward()
        norm = nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        return float(loss_sum.detach()), float(norm)
    return step


def parameter_pairs(net, model):
    """Each Theano parameter of a v1 network with its PyTorch counterpart.

    Both LSTMs order their gates input, forget, cell, output, so only the
    layouts differ: Lasagne multiplies ``x W`` (``W`` is ``(inputs,
    outputs)``), PyTorch ``x W^T``.

    Parameters
    ----------
    net : lasagne_seq2seq.models.seq2seq.Seq2Seq
        A one-layer v1 LSTM network with shared and tied embeddings (what
        ``bench/run.py`` builds).
    model : TorchSeq2Seq
        Of the same sizes.

    Returns
    -------
    list of (name, shared variable, torch.nn.Parameter, transposed)

    Raises
    ------
    ValueError
        If ``net`` has parameters the reference does not (another
        architecture, cell, depth or an untied output layer).
    """
    pairs = [(net.l_src_embed.W, model.embedding.weight, False)]
    for layer, lstm in ((net.encoder_layers[0], model.encoder),
                        (net.decoder_layers[0], model.decoder)):
        pairs += [(layer.W_in, lstm.weight_ih_l0, True), (layer.W_hid, lstm.weight_hh_l0, True),
                  (layer.b, lstm.bias_ih_l0, False)]
    if net.l_projection is not None:
        pairs += [(net.l_projection.W, model.projection.weight, True),
                  (net.l_projection.b, model.projection.bias, False)]
    pairs.append((net.l_logits.b, model.output_bias, False))
    unmatched = sorted(p.name for p in set(net.params) - {shared for shared, _, _ in pairs})
    if unmatched:
        raise ValueError("the network has parameters the PyTorch reference lacks (%s): "
                         "build it as bench/run.py does (v1, LSTM, one layer, tied embeddings)"
                         % ", ".join(unmatched))
    return [(shared.name, shared, tensor, transposed) for shared, tensor, transposed in pairs]


def copy_theano_weights(net, model):
    """Give ``model`` the weights of the Theano network ``net`` (see :func:`parameter_pairs`)."""
    with torch.no_grad():
        for _, shared, tensor, transposed in parameter_pairs(net, model):
            value = shared.get_value()
            tensor.copy_(torch.from_numpy(value.T if transposed else value))
        for lstm in (model.encoder, model.decoder):
            lstm.bias_hh_l0.zero_()


def parameter_differences(net, model):
    """The largest absolute difference of each Theano parameter from PyTorch's.

    Returns
    -------
    dict
        Theano parameter name to float.
    """
    differences = {}
    for name, shared, tensor, transposed in parameter_pairs(net, model):
        value = tensor.detach().numpy()
        value = value.T if transposed else value
        differences[name] = float(abs(shared.get_value() - value).max())
    return differences


def greedy_decode(model, src, start_id, max_len):
    """Greedy replies of ``max_len`` tokens to a batch of questions (no EOS stop).

    Returns
    -------
    torch.LongTensor ``(batch, max_len)``
    """
    state = model.encode(src)
    previous = torch.full((src.shape[0],), start_id, dtype=torch.long, device=src.device)
    tokens = []
    for _ in range(max_len):
        log_probs, state = model.step(previous, state)
        previous = log_probs.argmax(dim=1)
        tokens.append(previous)
    return torch.stack(tokens, dim=1)
