"""Deep feedforward model: exact gradients with and without batch normalisation, linearity."""

import numpy as np
import pytest

from ablab.core.engine.feedforward import FeedForwardNet, FeedForwardSpec
from ablab.core.engine.gradcheck import check_feedforward
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "selu", "identity"])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_feedforward_gradients(activation, batchnorm):
    net = FeedForwardNet(
        FeedForwardSpec(n_in=3, n_out=2, depth=4, width=5, activation=activation, batchnorm=batchnorm), REGISTRY
    )
    errors = check_feedforward(net)
    assert max(errors.values()) < 1e-6
    assert ("l0.gamma" in errors) == batchnorm


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
    u = cache["layers"][2][3]  # gamma = 1, beta = 0 at init
    np.testing.assert_allclose(u.mean(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(u.std(axis=1), 1, atol=1e-3)


def test_bad_feedforward_spec():
    from ablab.core.errors import ConfigError

    with pytest.raises(ConfigError, match="model.depth"):
        FeedForwardSpec(n_in=2, n_out=1, depth=0)
    with pytest.raises(ConfigError, match="batchnorm must be true or false"):
        FeedForwardSpec(n_in=2, n_out=1, batchnorm="yes")
