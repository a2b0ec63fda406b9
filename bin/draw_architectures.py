#!/usr/bin/env python
"""Draw the v1, v2 and attention architectures as PNG diagrams.

Writes pics/v1.png, pics/v2.png and pics/attention.png (or into --out),
drawn with matplotlib as the networks of lasagne_seq2seq/models/ and
lasagne_seq2seq/nn/attention.py are built from the default configuration: one
layer deep, the question read reversed, one embedding matrix E for
questions, replies and the output layer (shared and tied embeddings), and an
output projection down to E's width (the hidden size is larger).

    python bin/draw_architectures.py [--out pics]
"""
import argparse
import os

from lasagne_seq2seq.cli import run_main

QUESTION = ["how", "are", "you"]
REPLY = ["i'm", "fine", "</s>"]
#: The encoder reads the question reversed (``model.reverse_source``, default on).
SOURCE = QUESTION[::-1]

ENCODER_COLOR, DECODER_COLOR, THOUGHT_COLOR = "#cfe2f3", "#d9ead3", "#fce5cd"
ATTENTION_COLOR, EMBEDDING_COLOR = "#ead1dc", "#eeeeee"
PEEK_COLOR, ATTENTION_ARROW_COLOR = "#b45f06", "#741b47"

# Heights: input tokens, their embeddings, the (first) recurrent row, softmax, reply words.
TOKEN_Y, EMBED_Y, CELL_Y = -1.0, -0.35, 0.5
ENCODER_X = [0.0, 1.6, 3.2]
DECODER_X = [6.7, 8.3, 9.9]
TIED_NOTE = ("E: one embedding matrix for questions and replies, tied to the output layer "
             "(logits = proj(decoder output) \u00b7 E\u1d40 + b)")


def box(axes, x, y, text, color, width=1.0, height=0.6, fontsize=10):
    """A labelled rounded box centred on (x, y)."""
    from matplotlib.patches import FancyBboxPatch
    axes.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                  boxstyle="round,pad=0.05", facecolor=color,
                                  edgecolor="#444444", linewidth=1.2))
    axes.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def arrow(axes, start, end, color="#333333", dashed=False, curve=0.0):
    """An arrow from ``start`` to ``end`` (points), optionally curved."""
    from matplotlib.patches import FancyArrowPatch
    axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12,
                                   color=color, linestyle="--" if dashed else "-",
                                   connectionstyle="arc3,rad=%g" % curve, linewidth=1.2))


def route(axes, points, color="#333333", dashed=False, head=True):
    """A line through ``points``, with an arrowhead at the last one when ``head``."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path
    axes.add_patch(FancyArrowPatch(path=Path(points), arrowstyle="-|>" if head else "-",
                                   mutation_scale=12, color=color, linewidth=1.2,
                                   linestyle="--" if dashed else "-"))


def bus(axes, start, y, color, dashed=True):
    """What one box sends to every decoder step: a line from ``start`` to
    height ``y``, along the decoder, and down into each cell's top."""
    drops = [x - 0.3 for x in DECODER_X]
    route(axes, [start, (start[0], y), (drops[-1], y)], color, dashed, head=False)
    for x in drops:
        arrow(axes, (x, y), (x, CELL_Y + 0.33), color=color, dashed=dashed)


def note(axes, x, y, text, color="#333333", fontsize=8, **kwargs):
    """Small text centred on (x, y)."""
    axes.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=color, **kwargs)


def embedded_tokens(axes, xs, tokens):
    """Each token, looked up in E, under the first recurrent row."""
    for x, token in zip(xs, tokens):
        note(axes, x, TOKEN_Y, token, fontsize=10, style="italic")
        box(axes, x, EMBED_Y, "E", EMBEDDING_COLOR, width=0.4, height=0.3, fontsize=9)
        arrow(axes, (x, TOKEN_Y + 0.18), (x, EMBED_Y - 0.2))
        arrow(axes, (x, EMBED_Y + 0.2), (x, CELL_Y - 0.35))


def chain(axes, xs, y, backwards=False):
    """The recurrent arrows of one row of cells (right to left when ``backwards``)."""
    for left, right in zip(xs, xs[1:]):
        start, end = (left + 0.55, y), (right - 0.55, y)
        arrow(axes, *((end, start) if backwards else (start, end)))


def decoder(axes, output_label, output_y=1.9):
    """The decoder row: previous words in, a softmax over the vocabulary out."""
    embedded_tokens(axes, DECODER_X, ["<s>"] + REPLY[:-1])
    for x, word in zip(DECODER_X, REPLY):
        box(axes, x, CELL_Y, "LSTM", DECODER_COLOR)
        box(axes, x, output_y, output_label, DECODER_COLOR, width=1.2, height=0.6, fontsize=8)
        note(axes, x, output_y + 0.6, word, fontsize=10, fontweight="bold")
        arrow(axes, (x, CELL_Y + 0.35), (x, output_y - 0.35))
    chain(axes, DECODER_X, CELL_Y)


def finish(axes, figure, title, path, top):
    """Label the two halves and the tied embeddings, frame, and save to ``path``."""
    note(axes, 1.6, TOKEN_Y - 0.8, "encoder (question, reversed)", fontsize=10)
    note(axes, DECODER_X[1], TOKEN_Y - 0.8, "decoder (reply)", fontsize=10)
    note(axes, 4.8, TOKEN_Y - 1.2, TIED_NOTE, color="#555555")
    axes.set_title(title, fontsize=11)
    axes.set_xlim(-1.1, 10.8)
    axes.set_ylim(TOKEN_Y - 1.4, top)
    axes.axis("off")
    figure.tight_layout()
    figure.savefig(path)


def draw_seq2seq(axes, peek):
    """v1 (``peek`` False) and v2: the encoder's final [h, c] starts the
    decoder; v2 also feeds it to every decoder step (its cell's context input)."""
    embedded_tokens(axes, ENCODER_X, SOURCE)
    for x in ENCODER_X:
        box(axes, x, CELL_Y, "LSTM", ENCODER_COLOR)
    chain(axes, ENCODER_X, CELL_Y)
    thought = (4.8, CELL_Y)
    box(axes, thought[0], thought[1], "thought vector\nfinal [h, c]", THOUGHT_COLOR,
        width=1.25, height=0.8, fontsize=9)
    arrow(axes, (ENCODER_X[-1] + 0.55, CELL_Y), (thought[0] - 0.7, CELL_Y))
    arrow(axes, (thought[0] + 0.7, CELL_Y), (DECODER_X[0] - 0.55, CELL_Y))
    note(axes, (thought[0] + 0.65 + DECODER_X[0] - 0.5) / 2, CELL_Y - 0.3, "initial\nstate")
    if peek:
        bus(axes, (thought[0], CELL_Y + 0.45), 1.25, PEEK_COLOR)
        note(axes, thought[0], 1.45, "peek: [h, c] fed to every step", color=PEEK_COLOR)
    decoder(axes, "softmax\nproj(h) \u00b7 E\u1d40")


def draw_attention(axes):
    """The default attention model: a bidirectional encoder (a forward and
    a backward LSTM over the question), its top states [h\u2192; h\u2190] at
    every position the memory, a tanh bridge of both final states as the
    decoder's initial state, and at every step a context of the memory
    weighted by score(h_{t-1}, m_i), fed into the cell and the softmax."""
    forward_y, backward_y, memory_y, attention_y = CELL_Y, 1.55, 2.55, 3.55
    embedded_tokens(axes, ENCODER_X, SOURCE)
    for x in ENCODER_X:
        box(axes, x, forward_y, "LSTM \u2192", ENCODER_COLOR)
        box(axes, x, backward_y, "LSTM \u2190", ENCODER_COLOR)
        # The backward layer reads the same embeddings (past the forward box).
        arrow(axes, (x - 0.2, EMBED_Y + 0.15), (x - 0.55, backward_y - 0.1), curve=-0.45)
        box(axes, x, memory_y, "[h\u2192; h\u2190]", ATTENTION_COLOR, width=0.9, height=0.45,
            fontsize=9)
        arrow(axes, (x, backward_y + 0.35), (x, memory_y - 0.27))
        arrow(axes, (x + 0.55, forward_y + 0.1), (x + 0.3, memory_y - 0.25), curve=0.35)
    chain(axes, ENCODER_X, forward_y)
    chain(axes, ENCODER_X, backward_y, backwards=True)
    note(axes, ENCODER_X[-1] + 0.95, memory_y, "memory", color=ATTENTION_ARROW_COLOR)

    # Final states: the forward layer's after the last word, the backward
    # one's after the first (it reads right to left).
    bridge = (4.8, CELL_Y)
    box(axes, bridge[0], bridge[1], "bridge\ntanh(W [s\u2192; s\u2190] + b)", THOUGHT_COLOR,
        width=1.35, height=0.8, fontsize=8)
    arrow(axes, (ENCODER_X[-1] + 0.55, forward_y), (bridge[0] - 0.75, bridge[1]))
    note(axes, 3.95, forward_y + 0.15, "s\u2192")
    low = TOKEN_Y - 0.35
    route(axes, [(ENCODER_X[0] - 0.55, backward_y), (-0.9, backward_y), (-0.9, low),
                 (bridge[0], low), (bridge[0], bridge[1] - 0.47)])
    note(axes, 2.1, low - 0.15, "s\u2192, s\u2190: final [h, c] of each direction "
         "(LSTM \u2190 ends at the first word)", color="#555555")
    arrow(axes, (bridge[0] + 0.75, CELL_Y), (DECODER_X[0] - 0.55, CELL_Y))
    note(axes, (bridge[0] + 0.7 + DECODER_X[0] - 0.5) / 2, CELL_Y - 0.3, "initial\nstate")

    attention = (5.4, attention_y)
    box(axes, attention[0], attention[1], "attention", ATTENTION_COLOR, width=1.4, height=0.5)
    for x in ENCODER_X:
        arrow(axes, (x + 0.1, memory_y + 0.25), (attention[0] - 0.75, attention[1]),
              color=ATTENTION_ARROW_COLOR, curve=-0.15)
    bus(axes, (attention[0] + 0.3, attention[1] - 0.3), 1.3, ATTENTION_ARROW_COLOR)
    note(axes, DECODER_X[1], attention[1],
         "context c\u209c = \u03a3\u1d62 w\u1d62 m\u1d62, weights w from "
         "score(h\u209c\u208b\u2081, m\u1d62),\ninto every step's cell and softmax",
         color=ATTENTION_ARROW_COLOR)
    decoder(axes, "softmax\nproj([h; c\u209c]) \u00b7 E\u1d40", output_y=2.15)


#: name -> (title, how it is drawn, figure height in inches, top of the drawing)
ARCHITECTURES = {
    "v1": ("v1: the encoder's final state [h, c] initialises the decoder",
           lambda axes: draw_seq2seq(axes, peek=False), 4.4, 3.0),
    "v2": ("v2: ... and is also fed to every decoder step (peek)",
           lambda axes: draw_seq2seq(axes, peek=True), 4.4, 3.0),
    "attention": ("attention: bidirectional encoder, tanh bridge to the decoder, "
                  "a context of all encoder states at every step",
                  draw_attention, 5.6, 4.3),
}


def draw(name, path):
    """Draw one architecture of :data:`ARCHITECTURES` into ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    title, drawing, height, top = ARCHITECTURES[name]
    figure, axes = plt.subplots(figsize=(11, height), dpi=80)
    drawing(axes)
    finish(axes, figure, title, path, top)
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
