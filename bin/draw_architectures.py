#!/usr/bin/env python
"""Draw the v1, v2 and attention architectures as PNG diagrams.

Writes pics/v1.png, pics/v2.png and pics/attention.png (or into --out),
drawn with matplotlib from one description of each network, so the pictures
follow the code's vocabulary: thought vector, initial state, peek, attention.

    python bin/draw_architectures.py [--out pics]
"""
import argparse
import os

from lasagne_seq2seq.cli import run_main

QUESTION = ["how", "are", "you"]
REPLY = ["i'm", "fine", "</s>"]

#: name -> (title, decoder starts from the thought vector, thought fed at every
#: step, decoder attends over every encoder state)
ARCHITECTURES = {
    "v1": ("v1: the thought vector initialises the decoder", True, False, False),
    "v2": ("v2: ... and is fed to every decoder step (peek)", True, True, False),
    "attention": ("attention: every decoder step reads a weighted mix of encoder states",
                  True, False, True),
}
ENCODER_COLOR, DECODER_COLOR, THOUGHT_COLOR, ATTENTION_COLOR = ("#cfe2f3", "#d9ead3",
                                                                "#fce5cd", "#ead1dc")


def box(axes, x, y, text, color, width=1.0, height=0.6):
    """A labelled rounded box centred on (x, y)."""
    from matplotlib.patches import FancyBboxPatch
    axes.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                  boxstyle="round,pad=0.05", facecolor=color,
                                  edgecolor="#444444", linewidth=1.2))
    axes.text(x, y, text, ha="center", va="center", fontsize=10)


def arrow(axes, start, end, style="-|>", color="#333333", dashed=False, curve=0.0):
    """An arrow from ``start`` to ``end`` (points), optionally curved."""
    from matplotlib.patches import FancyArrowPatch
    axes.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12,
                                   color=color, linestyle="--" if dashed else "-",
                                   connectionstyle="arc3,rad=%g" % curve, linewidth=1.2))


def draw(name, path):
    """Draw one architecture of :data:`ARCHITECTURES` into ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    title, init_state, peek, attention = ARCHITECTURES[name]
    figure, axes = plt.subplots(figsize=(10, 4.2), dpi=80)
    encoder_x = [0.0, 1.6, 3.2]
    decoder_x = [6.0, 7.6, 9.2]
    cell_y, token_y, output_y = 1.0, -0.2, 2.6
    thought = (4.6, 1.0)
    for x, word in zip(encoder_x, reversed(QUESTION)):  # the question is read reversed
        box(axes, x, cell_y, "LSTM", ENCODER_COLOR)
        axes.text(x, token_y, word, ha="center", va="center", fontsize=10, style="italic")
        arrow(axes, (x, token_y + 0.2), (x, cell_y - 0.35))
    for left, right in zip(encoder_x, encoder_x[1:]):
        arrow(axes, (left + 0.55, cell_y), (right - 0.55, cell_y))
    box(axes, thought[0], thought[1], "thought\nvector", THOUGHT_COLOR, width=0.9, height=0.8)
    arrow(axes, (encoder_x[-1] + 0.55, cell_y), (thought[0] - 0.5, thought[1]))
    for x, previous, word in zip(decoder_x, ["<s>"] + REPLY[:-1], REPLY):
        box(axes, x, cell_y, "LSTM", DECODER_COLOR)
        box(axes, x, output_y - 0.6, "softmax", DECODER_COLOR, height=0.45)
        axes.text(x, token_y, previous, ha="center", va="center", fontsize=10, style="italic")
        axes.text(x, output_y + 0.1, word, ha="center", va="center", fontsize=10,
                  fontweight="bold")
        arrow(axes, (x, token_y + 0.2), (x, cell_y - 0.35))
        arrow(axes, (x, cell_y + 0.35), (x, output_y - 0.85))
    for left, right in zip(decoder_x, decoder_x[1:]):
        arrow(axes, (left + 0.55, cell_y), (right - 0.55, cell_y))
    if init_state:
        arrow(axes, (thought[0] + 0.5, thought[1]), (decoder_x[0] - 0.55, cell_y))
        axes.text((thought[0] + decoder_x[0]) / 2, cell_y + 0.15, "initial state",
                  ha="center", fontsize=8)
    if peek:
        for x in decoder_x:
            arrow(axes, (thought[0], thought[1] - 0.45), (x - 0.2, cell_y - 0.35),
                  color="#b45f06", dashed=True, curve=0.25)
        axes.text(7.6, 0.25, "peek: thought vector at every step", ha="center", fontsize=8,
                  color="#b45f06")
    if attention:
        box(axes, 4.6, 2.6, "attention", ATTENTION_COLOR, width=1.3, height=0.5)
        for x in encoder_x:
            arrow(axes, (x, cell_y + 0.35), (4.0, 2.5), color="#741b47", curve=-0.15)
        for x in decoder_x:
            arrow(axes, (5.3, 2.6), (x - 0.45, cell_y + 0.3), color="#741b47", dashed=True,
                  curve=0.2)
        axes.text(4.6, 3.05, "weights from the decoder's state", ha="center", fontsize=8,
                  color="#741b47")
    axes.text(1.6, -0.75, "encoder (question, reversed)", ha="center", fontsize=10)
    axes.text(7.6, -0.75, "decoder (reply)", ha="center", fontsize=10)
    axes.set_title(title, fontsize=11)
    axes.set_xlim(-0.8, 10.0)
    axes.set_ylim(-1.0, 3.4)
    axes.axis("off")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="pics", help="folder for the PNGs (default pics)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in ARCHITECTURES:
        path = os.path.join(args.out, "%s.png" % name)
        draw(name, path)
        print("wrote %s" % path)
    return 0


if __name__ == "__main__":
    run_main(main)
