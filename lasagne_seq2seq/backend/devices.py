"""Per-layer device placement (seed 002's layers on different GPUs).

``bin/train.py --devices encoder=dev0,decoder=dev1,output=dev1`` with
``THEANO_FLAGS="contexts=dev0->cuda0;dev1->cuda1"`` puts each group of layers
on one of Theano's named GPU contexts:

* the group's parameters are created on its context (``theano.shared(...,
  target=context)``);
* the group's layers move their inputs to that context (``.transfer(context)``)
  before computing, so every operation of a layer runs where its parameters
  live and only activations cross between GPUs.

Groups (:data:`LAYER_GROUPS`): ``embedding`` (source and target embeddings),
``encoder`` (the recurrent encoder stack), ``decoder`` (the decoder stack and,
for attention, its bridges), ``output`` (the softmax layer and its
projection). A group left out stays on Theano's default device. Tied
embeddings are one matrix, so ``embedding`` and ``output`` must then share a
context.

Placement applies to training (the loss, its gradient and validation are
built through the layers); decoding loads a trained model on one device.
Without GPU contexts (the CPU back end) the mapping is checked and then
ignored with a notice. Only the mapping logic is tested here (no GPU).
"""
from collections import OrderedDict

import theano
from lasagne.layers import get_all_layers, get_all_params

from lasagne_seq2seq.errors import Seq2SeqError

__all__ = ["LAYER_GROUPS", "parse_devices", "context_names", "group_layers", "check_devices",
           "place_network", "move_parameters"]

#: The layer groups a device mapping may name.
LAYER_GROUPS = ("embedding", "encoder", "decoder", "output")


def parse_devices(text):
    """Read a ``--devices`` mapping.

    Parameters
    ----------
    text : str
        ``"GROUP=CONTEXT,..."``; empty for none.

    Returns
    -------
    OrderedDict
        Group name to context name, in the order given.

    Raises
    ------
    Seq2SeqError
        For a malformed entry, an unknown group or a group named twice.

    Examples
    --------
    >>> dict(parse_devices("encoder=dev0, decoder=dev1,output=dev1"))
    {'encoder': 'dev0', 'decoder': 'dev1', 'output': 'dev1'}
    """
    mapping = OrderedDict()
    for entry in filter(None, (part.strip() for part in (text or "").split(","))):
        group, equals, context = (piece.strip() for piece in entry.partition("="))
        if not (equals and group and context):
            raise Seq2SeqError("--devices: %r is not GROUP=CONTEXT (e.g. "
                               "encoder=dev0,decoder=dev1)" % entry)
        if group not in LAYER_GROUPS:
            raise Seq2SeqError("--devices: unknown layer group %r: choose among %s"
                               % (group, ", ".join(LAYER_GROUPS)))
        if group in mapping:
            raise Seq2SeqError("--devices names %s twice: give each group one context" % group)
        mapping[group] = context
    return mapping


def context_names(contexts):
    """The context names defined by Theano's ``contexts`` flag.

    Examples
    --------
    >>> context_names("dev0->cuda0;dev1->cuda1")
    ['dev0', 'dev1']
    """
    return [entry.split("->")[0].strip() for entry in (contexts or "").split(";")
            if entry.strip()]


def check_devices(mapping, contexts, tie_embeddings):
    """Check a mapping against the defined contexts and the architecture.

    Parameters
    ----------
    mapping : mapping of str to str
        From :func:`parse_devices`.
    contexts : str
        Theano's ``contexts`` flag (``"dev0->cuda0;dev1->cuda1"``).
    tie_embeddings : bool
        Whether the output layer reuses the embedding matrix.

    Raises
    ------
    Seq2SeqError
        For a context the flag does not define, or tied embeddings split
        across two contexts.
    """
    defined = context_names(contexts)
    for group, context in mapping.items():
        if context not in defined:
            raise Seq2SeqError(
                "--devices %s=%s: no Theano context %r; define it in THEANO_FLAGS, e.g. "
                "contexts=%s->cuda0 (defined: %s)" % (group, context, context, context,
                                                      ", ".join(defined) or "none"))
    if tie_embeddings and mapping.get("embedding") != mapping.get("output"):
        raise Seq2SeqError("--devices: tied embeddings are one matrix, so embedding and output "
                           "need the same context (or train with --no-tie-embeddings)")


def group_layers(net, group):
    """The layers with parameters that form one group of a network.

    Parameters
    ----------
    net : EncoderDecoder
    group : str
        One of :data:`LAYER_GROUPS`.

    Returns
    -------
    list of Layer
    """
    layers = {
        "embedding": [net.l_src_embed, net.l_tgt_embed],
        "encoder": list(net.encoder_layers),
        "decoder": list(net.decoder_layers) + list(getattr(net, "bridges", [])),
        "output": [net.l_logits] + ([net.l_projection] if net.l_projection is not None else []),
    }[group]
    unique = []
    for layer in layers:  # shared embeddings: one layer object may be listed twice
        if all(layer is not other for other in unique):
            unique.append(layer)
    return unique


def _parts(layer):
    """The objects that hold a layer's parameters (a wrapped cell holds some)."""
    cell = getattr(layer, "cell", None)
    return [layer] + ([cell] if cell is not None else [])


def move_parameters(net, layers, make_shared):
    """Replace the parameters of ``layers`` by new shared variables.

    Every reference is rebound (layer attributes, the layers' parameter
    dicts, a wrapped cell's, ``net.params`` and ``net.encoder_params``), so
    graphs built afterwards use only the new variables.

    Parameters
    ----------
    net : EncoderDecoder
    layers : list of Layer
    make_shared : callable
        ``make_shared(old) -> new`` shared variable (same value and name).
    """
    replacements = {}
    for layer in layers:
        for param in layer.get_params():
            if id(param) not in replacements:
                replacements[id(param)] = make_shared(param)
    owners = [part for layer in get_all_layers(net.l_logits) for part in _parts(layer)]
    for owner in owners:
        for name, value in list(vars(owner).items()):
            if id(value) in replacements:
                setattr(owner, name, replacements[id(value)])
        owner.params = OrderedDict((replacements.get(id(p), p), tags)
                                   for p, tags in owner.params.items())
    net.params = get_all_params(net.l_logits)
    net.encoder_params = [replacements.get(id(p), p) for p in net.encoder_params]


def _compute_on(layer, context):
    """Make ``layer`` move its inputs to ``context`` before computing."""
    compute = layer.get_output_for

    def get_output_for(inputs, **kwargs):
        if isinstance(inputs, (list, tuple)):
            return compute([x.transfer(context) for x in inputs], **kwargs)
        return compute(inputs.transfer(context), **kwargs)

    layer.get_output_for = get_output_for


def place_network(net, mapping, log=print):
    """Put each group of a network on its Theano context (see the module docstring).

    Parameters
    ----------
    net : EncoderDecoder
        Freshly built (before any graph is made from it).
    mapping : mapping of str to str
        From :func:`parse_devices`.
    log : callable
        Prints one line (the notice on the CPU back end).

    Returns
    -------
    bool
        True when layers were placed; False on the CPU back end (no contexts).
    """
    if not mapping:
        return False
    contexts = theano.config.contexts
    if not context_names(contexts):
        log("--devices %s ignored: Theano has no GPU contexts (the CPU back end); set "
            "THEANO_FLAGS=contexts=dev0->cuda0;dev1->cuda1 with pygpu installed"
            % ",".join("%s=%s" % item for item in mapping.items()))
        return False
    check_devices(mapping, contexts, net.config.tie_embeddings)
    for group, context in mapping.items():
        layers = group_layers(net, group)
        move_parameters(net, layers, lambda p, context=context: theano.shared(
            p.get_value(), name=p.name, broadcastable=p.broadcastable, target=context))
        for layer in layers:
            _compute_on(layer, context)
    log("layers placed: %s" % ", ".join("%s on %s" % item for item in mapping.items()))
    return True
