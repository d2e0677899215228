"""Deep feedforward model: exact gradients with and without batch normalisation and skip
connections, linearity, the residual forward pass, ensemble members equal solo runs."""

import numpy as np
import pytest

from ablab.core.engine.feedforward import FeedForwardNet, FeedForwardSpec
from ablab.core.engine.gradcheck import check_feedforward
from ablab.core.engine.optim import OptimizerSpec
from ablab.core.engine.train import TrainSpec, train
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)


SKIPS = {"plain": {}, "residual": {"residual": True}, "skipinit": {"residual": True, "skipinit": True}}


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "selu", "identity"])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("skips", list(SKIPS))
def test_feedforward_gradients(activation, batchnorm, skips):
    net = FeedForwardNet(
        FeedForwardSpec(n_in=3, n_out=2, depth=4, width=5, activation=activation, batchnorm=batchnorm, **SKIPS[skips]),
        REGISTRY,
    )
    errors = check_feedforward(net)  # float64, against central differences
    assert max(errors.values()) < 1e-6
    assert ("l0.gamma" in errors) == batchnorm
    # SkipInit's scalars on the skip-connected layers 1..3, never on the first
    assert sorted(k for k in errors if k.endswith("alpha")) == (
        ["l1.alpha", "l2.alpha", "l3.alpha"] if skips == "skipinit" else []
    )


@pytest.mark.parametrize("batchnorm", [False, True])
def test_residual_forward_adds_each_branch_to_the_pre_activation_stream(batchnorm):
    """u_0 = v_0, u_l = u_{l-1} + alpha_l v_l for l >= 1, with v_l = BN(f(u_{l-1}) W_l + b_l),
    written out here as a plain loop over layers of one member."""
    net = FeedForwardNet(
        FeedForwardSpec(n_in=3, n_out=2, depth=4, width=5, activation="tanh", batchnorm=batchnorm, **SKIPS["skipinit"]),
        REGISTRY,
    )
    rng = np.random.default_rng(3)
    params = {k: v + rng.normal(0, 0.3, v.shape) for k, v in net.init([0], np.float64).items()}
    x = rng.normal(size=(1, 7, 3))

    def branch(l, h):
        z = h @ params[f"l{l}.W"][0]
        if not batchnorm:
            return z + params[f"l{l}.b"][0]
        zhat = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)
        return params[f"l{l}.gamma"][0] * zhat + params[f"l{l}.beta"][0]

    u = branch(0, x[0])
    for l in range(1, 4):
        u = u + params[f"l{l}.alpha"][0, 0] * branch(l, np.tanh(u))
    expected = np.tanh(u) @ params["out.V"][0] + params["out.c"][0]
    np.testing.assert_allclose(net.forward(params, x)[0][0], expected, rtol=1e-12, atol=1e-12)


def test_skipinit_starts_a_deep_residual_net_as_its_first_layer():
    """alpha = 0 at init (De and Smith 2020): 30 layers compute what the first one does."""
    deep = FeedForwardNet(FeedForwardSpec(n_in=4, n_out=2, depth=30, width=8, **SKIPS["skipinit"]), REGISTRY)
    params = deep.init([0, 1], np.float64)
    shallow = {k: params[k] for k in ("l0.W", "l0.b", "out.V", "out.c")}
    one = FeedForwardNet(FeedForwardSpec(n_in=4, n_out=2, depth=1, width=8), REGISTRY)
    x = np.random.default_rng(0).normal(size=(2, 9, 4))
    np.testing.assert_array_equal(deep.forward(params, x)[0], one.forward(shallow, x)[0])
    assert not np.array_equal(params["out.V"][0], params["out.V"][1])  # members differ


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("skips", ["residual", "skipinit"])
def test_residual_ensemble_member_equals_solo_run(batchnorm, skips):
    net = FeedForwardNet(
        FeedForwardSpec(n_in=16, n_out=1, depth=6, width=8, batchnorm=batchnorm, **SKIPS[skips]), REGISTRY
    )
    task = REGISTRY.get("task", "teacher")()
    spec = TrainSpec(steps=8, batch_size=16, optimizer=OptimizerSpec(name="momentum", lr=0.01), log_every=1)
    ensemble = train(net, task, spec, seeds=[3, 7, 11])
    solo = train(net, task, spec, seeds=[7])
    for key in ensemble.params:
        np.testing.assert_array_equal(ensemble.params[key][1], solo.params[key][0])
    np.testing.assert_array_equal(ensemble.series("loss")[:, 1], solo.series("loss")[:, 0])
    if skips == "skipinit":  # the scalars left 0: the branches were trained
        assert np.all(ensemble.params["l3.alpha"] != 0)


def test_identity_activations_leave_a_deep_net_linear():
    net = FeedForwardNet(
        FeedForwardSpec(n_in=4, n_out=3, depth=50, width=8, activation="identity", init="orthogonal"), REGISTRY
    )
    params = net.init([0], np.float64)
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(1, 5, 4)), rng.normal(size=(1, 5, 4))
    f = lambda x: net.forward(params, x)[0]  # noqa: E731
    np.testing.assert_allclose(
        f(2 * x1 - 3 * x2) - f(np.zeros_like(x1)),
        2 * (f(x1) - f(np.zeros_like(x1))) - 3 * (f(x2) - f(np.zeros_like(x1))),
        atol=1e-9,
    )


def test_batchnorm_normalises_each_unit_over_the_batch():
    net = FeedForwardNet(
        FeedForwardSpec(n_in=4, n_out=1, depth=3, width=6, activation="identity", batchnorm=True), REGISTRY
    )
    params = net.init([0, 1], np.float64)
    x = np.random.default_rng(0).normal(3.0, 5.0, (2, 64, 4))
    _, cache = net.forward(params, x)
    u = cache["layers"][2][4]  # gamma = 1, beta = 0 at init
    np.testing.assert_allclose(u.mean(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(u.std(axis=1), 1, atol=1e-3)


def test_bad_feedforward_spec():
    from ablab.core.errors import ConfigError

    with pytest.raises(ConfigError, match="model.depth"):
        FeedForwardSpec(n_in=2, n_out=1, depth=0)
    with pytest.raises(ConfigError, match="batchnorm must be true or false"):
        FeedForwardSpec(n_in=2, n_out=1, batchnorm="yes")


@pytest.mark.parametrize(
    "model,message",
    [
        ({"residual": "yes"}, "model.residual must be true or false, got 'yes'"),
        ({"residual": 1}, "model.residual must be true or false, got '?1'?"),
        ({"residual": True, "skipinit": 0}, "model.skipinit must be true or false, got '?0'?"),
        ({"skipinit": True}, "model.skipinit scales residual branches: it needs model.residual = true"),
        ({"skip": True}, "unknown key 'skip'; allowed keys: .*residual.*skipinit"),
    ],
)
def test_bad_residual_options_name_the_key_and_the_allowed_values(model, message):
    from ablab.core.engine.net import build_net
    from ablab.core.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        build_net({"kind": "feedforward", **model}, REGISTRY.get("task", "teacher")(), REGISTRY)
