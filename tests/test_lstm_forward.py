"""The standard LSTM's compiled training forward (plugins/cells/lstm_forward.py, FusedCell
promise 7): its float32 tanh's accuracy, and its results against the step-by-step forward."""

import numpy as np
import pytest

from ablab.core.engine.model import RecurrentNet, RecurrentSpec
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(strict=False)


def test_float32_tanh_is_within_2_ulp_of_the_rounded_float64_tanh():
    from ablab.plugins.cells.lstm_forward import vtanh32

    tiny = np.float32(10.0) ** -np.arange(1, 38, 0.25, dtype=np.float32)
    x = np.concatenate(
        [np.linspace(-10, 10, 2_000_001).astype(np.float32), tiny, -tiny, np.float32([0, 9.5, 50, -50, 3e38])]
    )
    got = np.empty_like(x)
    vtanh32(x, got)
    want = np.tanh(x.astype(np.float64)).astype(np.float32)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    print(f"tanh32: max {ulps.max()} ulp over {x.size} inputs, {np.mean(ulps > 0):.1%} not exact")
    assert ulps.max() <= 2, f"{ulps.max()} ulp at x = {x[ulps.argmax()]}"
    assert np.all(np.sign(got) == np.sign(want))


def test_float32_sigmoid_is_within_4_ulp_of_the_rounded_float64_sigmoid_where_it_is_normal():
    from ablab.plugins.cells.lstm_forward import vsigmoid32

    x = np.concatenate([np.linspace(-87, 87, 2_000_001).astype(np.float32), np.float32([0, 100, 3e38])])
    got = np.empty_like(x)
    vsigmoid32(x, got)
    want = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    print(f"sigmoid32: max {ulps.max()} ulp over {x.size} inputs, {np.mean(ulps > 0):.1%} not exact")
    assert ulps.max() <= 4, f"{ulps.max()} ulp at x = {x[ulps.argmax()]}"
    vsigmoid32(np.float32([-100, -3e38]), got[:2])  # below float32's normal range: clamped, still tiny
    assert 0 <= got[:2].min() and got[:2].max() < 1e-38


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("layers, readout", [(1, "last"), (2, "all")])
def test_training_forward_matches_the_step_by_step_forward(dtype, tol, layers, readout):
    """Same outputs, tapes and gradients up to the last bits: float32 takes tanh32 and sigmoid32,
    within a few ulp of numpy's tanh and of the sigmoid plugin's formula."""
    spec = RecurrentSpec(n_in=3, n_out=2, hidden=5, cell="lstm", layers=layers, readout=readout)
    net = RecurrentNet(spec, REGISTRY)
    params = net.init([0, 1, 2], dtype)
    x = np.random.default_rng(3).normal(size=(3, 7, 4, 3)).astype(dtype)
    y, cache = net.forward(params, x)
    y_train, cache_train = net.forward(params, x, train=True)
    assert y_train.dtype == dtype and all(steps == [] for steps in cache_train["steps"])  # the tape only
    np.testing.assert_allclose(y_train, y, rtol=tol, atol=tol)
    for tape, tape_train in zip(cache["tapes"], cache_train["tapes"]):
        for field in ("gates", "g", "c", "psi_c"):
            np.testing.assert_allclose(getattr(tape_train, field), getattr(tape, field), rtol=tol, atol=tol)
    dy = np.random.default_rng(4).normal(size=y.shape).astype(dtype)
    grads, _ = net.backward(params, dy, cache)
    grads_train, _ = net.backward(params, dy, cache_train)
    for k in grads:
        np.testing.assert_allclose(grads_train[k], grads[k], rtol=10 * tol, atol=10 * tol, err_msg=k)


def test_only_the_taped_standard_lstm_runs_the_whole_layer():
    """Other option sets and plain cells keep their step-by-step forward in training too."""
    for cell, options in (("lstm", {"coupled": True}), ("lstm-peephole", {}), ("gru", {})):
        net = RecurrentNet(RecurrentSpec(n_in=3, n_out=2, hidden=5, cell=cell, cell_options=options), REGISTRY)
        params = net.init([0])
        _, cache = net.forward(params, np.zeros((1, 4, 2, 3), np.float32), train=True)
        assert len(cache["steps"][0]) == 4, (cell, options)
