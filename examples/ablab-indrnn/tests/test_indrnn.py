"""IndRNN's own tests: the ablab contract, its initialisation and its clip, registered
in-process with registry_with (no install needed)."""

import ablab_indrnn
import numpy as np
import pytest

from ablab.plugin import (
    RecurrentNet,
    RecurrentSpec,
    TrainSpec,
    check_cell,
    check_probe,
    registry_with,
    train,
)


@pytest.fixture(scope="module")
def registry():
    return registry_with(ablab_indrnn)


@pytest.mark.parametrize("options", [{}, {"horizon": 5, "activation": "tanh"}])
def test_indrnn_passes_the_ablab_contract(registry, options):
    outcomes = check_cell("indrnn", options, registry=registry)
    assert {o.name: o.status for o in outcomes}["constrain"] == "ok"


def test_its_probe_passes_the_ablab_contract(registry):
    assert check_probe("indrnn_u", registry=registry)


def net(registry, **options):
    spec = RecurrentSpec(n_in=2, n_out=1, hidden=64, cell="indrnn", cell_options=options)
    return RecurrentNet(spec, registry)


def test_u_starts_uniform_in_0_1_from_each_members_own_generator(registry):
    ensemble = net(registry).init([3, 4, 5], np.float64)["l0.u"]  # (S, H)
    assert ensemble.shape == (3, 64) and ensemble.min() >= 0.0 and ensemble.max() < 1.0
    assert 0.35 < ensemble.mean() < 0.65  # 192 draws of U[0, 1]: mean 0.5, sd 0.02
    solo = net(registry).init([4], np.float64)["l0.u"]
    np.testing.assert_array_equal(ensemble[1], solo[0])  # member 1 == a solo run with seed 4
    assert not np.array_equal(ensemble[0], ensemble[1])


def test_u_is_clipped_to_two_to_the_one_over_t_after_every_step(registry):
    task = registry.get("task", "adding")(length=10)
    model = net(registry, horizon=10)
    params = model.init([0, 1], np.float32)
    params["l0.u"][:] = np.linspace(-3, 3, 64)  # far outside the bound
    spec = TrainSpec(steps=1, batch_size=4)
    result = train(model, task, spec, [0, 1], params=params)
    bound = np.float32(2.0 ** (1 / 10))
    u = result.params["l0.u"]
    assert np.abs(u).max() <= bound
    assert (np.abs(u) == bound).sum() > 2 * 20  # the far ones sit on the bound (both signs)
