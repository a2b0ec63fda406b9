"""The v1 network of lasagne_seq2seq in PyTorch: the benchmark's yardstick.

Same sizes and the same math as :class:`lasagne_seq2seq.models.Seq2Seq` with
its defaults (``--model v1 --cell lstm``, shared and tied embeddings): one
embedding matrix for questions, replies and the output layer; an LSTM encoder
(gates input, forget, cell, output; no peepholes) whose final ``(h, c)``
starts an LSTM decoder; the decoder's output projected to the embedding size
when the two differ; logits = projection times the transposed embeddings plus
a bias; summed masked cross-entropy; Adam on the per-token mean with the
total gradient norm clipped to 5. The benchmark feeds full-length batches, so
the recurrent masks of the Theano network are all ones and PyTorch's unmasked
``nn.LSTM`` computes the same states. (``nn.LSTM`` has two bias vectors where
the Theano cell has one: 4 x hidden extra additions per step.)

Only ``bench/run.py`` imports this module, and only when torch is installed.
"""
import torch
import torch.nn.functional as F
from torch import nn


class TorchSeq2Seq(nn.Module):
    """v1 encoder-decoder with tied embeddings.

    Parameters
    ----------
    vocab_size, embedding_size, hidden_size : int
    """

    def __init__(self, vocab_size, embedding_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.encoder = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.decoder = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.projection = (nn.Linear(hidden_size, embedding_size)
                           if hidden_size != embedding_size else None)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size))

    def loss(self, src, tgt_in, tgt_out, tgt_mask):
        """Summed cross-entropy of the real target tokens (teacher forcing)."""
        _, thought = self.encoder(self.embedding(src))
        outputs, _ = self.decoder(self.embedding(tgt_in), thought)
        outputs = outputs.reshape(-1, outputs.shape[-1])
        if self.projection is not None:
            outputs = self.projection(outputs)
        logits = torch.addmm(self.output_bias, outputs, self.embedding.weight.t())
        token_losses = F.cross_entropy(logits, tgt_out.reshape(-1), reduction="none")
        return (token_losses * tgt_mask.reshape(-1)).sum()

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


def training_step(model, max_grad_norm=5.0, learning_rate=0.001):
    """A compiled-equivalent training step: ``step(src, tgt_in, tgt_out, mask) -> loss sum``.

    Parameters
    ----------
    model : TorchSeq2Seq
    max_grad_norm : float
        Total-norm clipping, as the Theano trainer.
    learning_rate : float
        Adam's step size.

    Returns
    -------
    callable
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

    def step(src, tgt_in, tgt_out, tgt_mask):
        optimizer.zero_grad(set_to_none=True)
        loss_sum = model.loss(src, tgt_in, tgt_out, tgt_mask)
        (loss_sum / tgt_mask.sum()).backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        return float(loss_sum)
    return step


def greedy_decode(model, src, start_id, max_len):
    """Greedy replies of ``max_len`` tokens to a batch of questions (no EOS stop).

    Returns
    -------
    torch.LongTensor ``(batch, max_len)``
    """
    state = model.encode(src)
    previous = torch.full((src.shape[0],), start_id, dtype=torch.long)
    tokens = []
    for _ in range(max_len):
        log_probs, state = model.step(previous, state)
        previous = log_probs.argmax(dim=1)
        tokens.append(previous)
    return torch.stack(tokens, dim=1)
