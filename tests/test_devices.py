"""Per-layer device placement (--devices): the mapping is parsed and checked,
its groups cover every parameter, moving parameters rebinds every reference,
and the CPU back end ignores it with a notice. No GPU here: the GPU path
itself is untested."""
import numpy as np
import pytest

from lasagne_seq2seq.config import ModelConfig, RunConfig
from lasagne_seq2seq.backend.devices import (LAYER_GROUPS,
    check_devices,
    group_layers,
    move_parameters,
    parse_devices,
    place_network)
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.models.registry import build_network
from lasagne_seq2seq.train.run import train_run
import theano
import theano.tensor as T
from theano.graph.basic import graph_inputs

CONTEXTS = "dev0->cuda0;dev1->cuda1"


def test_mapping_is_parsed_and_bad_ones_are_named():
    assert dict(parse_devices(" encoder=dev0,decoder=dev1 , output=dev1,")) == \
        {"encoder": "dev0", "decoder": "dev1", "output": "dev1"}
    assert not parse_devices("")
    for text, message in [("encoder", "is not GROUP=CONTEXT"), ("encoder=", "is not GROUP"),
                          ("softmax=dev0", "unknown layer group 'softmax'"),
                          ("encoder=dev0,encoder=dev1", "names encoder twice")]:
        with pytest.raises(Seq2SeqError, match=message):
            parse_devices(text)
    check_devices(parse_devices("encoder=dev0,decoder=dev1"), CONTEXTS, tie_embeddings=True)
    with pytest.raises(Seq2SeqError, match="no Theano context 'gpu2'.*defined: dev0, dev1"):
        check_devices(parse_devices("encoder=gpu2"), CONTEXTS, tie_embeddings=False)
    with pytest.raises(Seq2SeqError, match="tied embeddings"):
        check_devices(parse_devices("embedding=dev0,output=dev1"), CONTEXTS, tie_embeddings=True)
    check_devices(parse_devices("embedding=dev0,output=dev1"), CONTEXTS, tie_embeddings=False)


def tiny(model, **options):
    return build_network(ModelConfig(model=model, embedding_size=4, hidden_size=6, **options), 15)


@pytest.mark.parametrize("model, options", [
    ("attention", dict(encoder_depth=2, decoder_depth=2)),
    ("v2", dict(tie_embeddings=False, share_embeddings=False))])
def test_groups_cover_every_parameter_once(model, options):
    net = tiny(model, **options)
    # Shared embeddings: two layers of the embedding group hold one matrix.
    groups = [{id(p) for layer in group_layers(net, group) for p in layer.get_params()}
              for group in LAYER_GROUPS]
    assert sum(len(ids) for ids in groups) == len(set().union(*groups))  # never in two groups
    assert set().union(*groups) == {id(p) for p in net.params}


def test_moving_parameters_rebinds_every_reference():
    net = tiny("attention")  # tied and shared embeddings, a wrapped cell, bridges
    variables = [T.imatrix(), T.matrix(), T.imatrix(), T.imatrix(), T.matrix()]
    rng = np.random.RandomState(0)
    batch = [rng.randint(4, 15, (2, 3)).astype("int32"), np.ones((2, 3), "float32"),
             rng.randint(4, 15, (2, 4)).astype("int32"), rng.randint(4, 15, (2, 4)).astype("int32"),
             np.ones((2, 4), "float32")]
    loss = theano.function(variables, net.loss(*variables, deterministic=True))
    before = float(loss(*batch))
    old = {id(p) for p in net.params}
    made = []

    def make_shared(param):
        made.append(theano.shared(param.get_value(), name=param.name,
                                  broadcastable=param.broadcastable))
        return made[-1]

    for group in LAYER_GROUPS:
        move_parameters(net, group_layers(net, group), make_shared)
    assert len(made) == len(old)
    assert {id(p) for p in net.params} == {id(p) for p in made}
    assert {id(p) for p in net.encoder_params} <= {id(p) for p in made}
    expression = net.loss(*variables, deterministic=True)
    shared_inputs = [v for v in graph_inputs([expression]) if hasattr(v, "get_value")]
    assert shared_inputs and not {id(v) for v in shared_inputs} & old
    assert float(theano.function(variables, expression)(*batch)) == pytest.approx(before, rel=1e-5)


def test_cpu_back_end_ignores_the_mapping_with_a_notice(tmp_path):
    lines = []
    assert not place_network(tiny("v1"), parse_devices("encoder=dev0"), lines.append)
    assert len(lines) == 1 and "ignored" in lines[0] and "contexts=" in lines[0]
    config = RunConfig()
    config.model.devices = "encoder:dev0"
    with pytest.raises(Seq2SeqError, match="--devices: 'encoder:dev0' is not GROUP=CONTEXT"):
        train_run(config, str(tmp_path / "run"), log=lambda line: None)
