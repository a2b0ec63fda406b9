"""Pictures: training curves and attention heat maps (more in bin/draw_architectures.py)."""

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402

from lasagne_seq2seq.files import atomic_path  # noqa: E402

__all__ = ["plot_history", "plot_attention"]


def plot_history(history, path):
    """Draw training and validation perplexity against steps into a PNG.

    Parameters
    ----------
    history : list of dict
        Records with ``step``, ``train_ppl`` and ``valid_ppl`` (None allowed),
        as written by :class:`~lasagne_seq2seq.train.trainer.Trainer`.
    path : str
        Destination PNG.
    """
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    for key, label in (("train_ppl", "training"), ("valid_ppl", "validation")):
        points = [(r["step"], r[key]) for r in history if r.get(key) is not None]
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, marker="o", markersize=3, label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("perplexity per token")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    _save(figure, path)


def plot_attention(attention, path, title=None):
    """Draw an attention heat map into a PNG: source tokens across, reply tokens down.

    Parameters
    ----------
    attention : AttentionMap
        From :meth:`~lasagne_seq2seq.decode.decoder.Decoder.attention_map`.
    path : str
        Destination PNG.
    title : str, optional
        Drawn above the map (the question and reply when omitted).

    Examples
    --------
    >>> chart = decoder.attention_map("w1 w2 w3")           # doctest: +SKIP
    >>> plot_attention(chart, "pics/attention_heatmap.png")  # doctest: +SKIP
    """
    rows, columns = attention.weights.shape
    figure, axes = plt.subplots(figsize=(2.5 + 0.45 * columns, 1.8 + 0.4 * rows), dpi=100)
    image = axes.imshow(attention.weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(columns))
    axes.set_xticklabels(attention.source, rotation=60, ha="right")
    axes.set_yticks(range(rows))
    axes.set_yticklabels(attention.target)
    axes.set_xlabel("question (source) tokens")
    axes.set_ylabel("reply tokens")
    if title is None:
        title = "question: %s\nreply: %s" % (" ".join(attention.source), attention.reply.text)
    axes.set_title(title, fontsize=9, loc="left")
    figure.colorbar(image, ax=axes, fraction=0.04, label="attention weight")
    figure.tight_layout()
    _save(figure, path)


def _save(figure, path):
    """Write the figure atomically: never half a PNG."""
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp)
    plt.close(figure)
