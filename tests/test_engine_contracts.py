"""The Net protocol and MODEL_KINDS, the one option rule, the one table of random streams."""

import numpy as np
import pytest

from ablab.core.engine import streams
from ablab.core.engine.net import MODEL_KINDS, Net, build_net
from ablab.core.engine.options import name_and_options
from ablab.core.errors import ConfigError
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)
TASK_OF_KIND = {
    "recurrent": ("adding", {"length": 4}),
    "feedforward": ("teacher", {"n_in": 3}),
    "word2vec": ("wordpairs", {"sentences": 20}),
}


def task(kind):
    name, options = TASK_OF_KIND[kind]
    return REGISTRY.get("task", name)(**options)


def test_every_model_kind_implements_the_net_protocol_and_declares_itself():
    assert set(MODEL_KINDS) == set(TASK_OF_KIND)
    for kind, cls in MODEL_KINDS.items():
        net = build_net({"kind": kind}, task(kind), REGISTRY)
        assert isinstance(net, Net) and type(net) is cls and net.kind == kind
        assert net.recurrent == (kind == "recurrent")
        assert net.readout == ("corpus" if kind == "word2vec" else task(kind).readout)


@pytest.mark.parametrize(
    "kind,task_kind,message",
    [
        ("recurrent", "feedforward", 'not a sequence task .readout "vector".; use model.kind = "feedforward"'),
        ("feedforward", "recurrent", "is a sequence task .readout 'last'.; use model.kind = \"recurrent\""),
        ("word2vec", "recurrent", "needs a corpus task"),
        ("lstm", "recurrent", "model.kind must be one of 'recurrent', 'feedforward', 'word2vec', got 'lstm'"),
    ],
)
def test_a_model_kind_that_does_not_fit_the_task_says_what_to_use(kind, task_kind, message):
    with pytest.raises(ConfigError, match=message):
        build_net({"kind": kind}, task(task_kind), REGISTRY)


def test_word2vec_fits_like_every_net_one_result_per_seed():
    net = build_net({"kind": "word2vec", "dim": 3, "epochs": 2}, task("word2vec"), REGISTRY)
    result = net.fit(task("word2vec"), None, [0, 1], [])
    assert result.steps == [1, 2] and [v.shape for v in result.metrics["loss"]] == [(2,), (2,)]
    assert result.baseline is None and list(result.diverged_at) == [-1, -1]
    assert {r["seed"] for r in result.probe_records} == {0, 1}
    assert {r["step"] for r in result.probe_records} == {2}
    solo = net.fit(task("word2vec"), None, [1], [])
    np.testing.assert_array_equal(result.params["vectors"][1], solo.params["vectors"][0])
    with pytest.raises(ConfigError, match="word2vec.* has no gradient check"):
        net.gradcheck(tol=1e-6)


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda: REGISTRY.get("cell", "lstm")(REGISTRY, peepholes=1),
            "cell LSTM option 'peepholes' must be true or false",
        ),
        (lambda: REGISTRY.get("cell", "lstm")(REGISTRY, forget_bias="x"), "option 'forget_bias' must be a number"),
        (lambda: REGISTRY.get("task", "adding")(length=2.5), "task Adding option 'length' must be a whole number"),
        (
            lambda: REGISTRY.get("task", "adding")(size=3),
            r"task Adding has no option 'size'; options: length \(default 50\)",
        ),
        (
            lambda: REGISTRY.get("embedding", "learned")(REGISTRY, 5, dim=0),
            "embedding .* option 'dim' must be a whole number >= 1",
        ),
        (
            lambda: REGISTRY.get("activation", "leaky_relu").bind({"alpha": "big"}),
            "activation 'leaky_relu' option 'alpha' must be a number",
        ),
        (
            lambda: REGISTRY.get("initializer", "xavier").check_options({"gain": None}),
            "initializer 'xavier' option 'gain' must be a number",
        ),
    ],
)
def test_options_follow_one_rule_and_name_their_owner(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_a_name_or_a_table_with_a_name_is_parsed_once():
    assert name_and_options("tanh", "x") == ("tanh", {})
    assert name_and_options({"name": "leaky_relu", "alpha": 0.2}, "x") == ("leaky_relu", {"alpha": 0.2})
    for bad in (3, {"alpha": 0.2}, {"name": 4}):
        with pytest.raises(ConfigError, match="model.embedding must be a name or a table with a 'name' key"):
            name_and_options(bad, "model.embedding")


def test_random_streams_are_distinct():
    numbers = [v for k, v in vars(streams).items() if k.isupper()]
    assert len(numbers) == len(set(numbers)) == 7
    assert streams.rng(3, streams.DATA).random() == np.random.default_rng([3, 2]).random()
