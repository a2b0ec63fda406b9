"""Pictures: training curves (more in bin/draw_architectures.py)."""
import os

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_history"]


def plot_history(history, path):
    """Draw training and validation perplexity against steps into a PNG.

    Parameters
    ----------
    history : list of dict
        Records with ``step``, ``train_ppl`` and ``valid_ppl`` (None allowed),
        as written by :class:`~lasagne_seq2seq.training.Trainer`.
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
    tmp = path + ".tmp.png"
    figure.savefig(tmp)
    plt.close(figure)
    os.replace(tmp, path)
