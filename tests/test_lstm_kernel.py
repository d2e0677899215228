"""The standard LSTM's compiled backward (plugins/cells/lstm_kernel.py) against the cell's
general numpy backward, on the same caches; the float64 finite-difference checks of both paths
are in test_gradients.py (the default options take the compiled one, every ablation the other)."""

import numpy as np
import pytest

from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(strict=False)


def lstm(**options):
    return REGISTRY.get("cell", "lstm")(REGISTRY, **options)


def test_only_the_standard_option_set_is_compiled():
    assert lstm().compiled_backward
    assert lstm(forget_bias=3.0).compiled_backward
    assert REGISTRY.get("cell", "lstm-peephole")(REGISTRY).compiled_backward is False
    for options in (
        {"coupled": True},
        {"no_forget_gate": True},
        {"no_output_activation": True},
        {"gate_activation": "hard_sigmoid"},
        {"cell_activation": "relu"},
    ):
        assert lstm(**options).compiled_backward is False, options


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 1e-5)])
def test_compiled_backward_matches_the_numpy_backward(dtype, rtol):
    S, B, H = 3, 5, 7
    rng = np.random.default_rng(0)
    compiled, general = lstm(), lstm()
    general.compiled_backward = False
    U = rng.normal(size=(S, H, 4 * H)).astype(dtype)
    p = {"U": U, "U.T": np.ascontiguousarray(U.transpose(0, 2, 1))}
    z = rng.normal(size=(S, 4, B, H)).astype(dtype)
    state = tuple(rng.normal(size=(S, B, H)).astype(dtype) for _ in range(2))
    _, cache = compiled.step_z(p, z, state, lambda: z)
    dstate = tuple(rng.normal(size=(S, B, H)).astype(dtype) for _ in range(2))
    # `out` as ablab passes it: one step's slice of the chunk buffer (S, 4, steps, B, H), not contiguous
    buf_c, buf_g = (np.full((S, 4, 3, B, H), np.nan, dtype) for _ in range(2))
    dz_c, (dh_c, dc_c) = compiled.backward_step(p, dstate, cache, {}, buf_c[:, :, 1])
    dz_g, (dh_g, dc_g) = general.backward_step(p, dstate, cache, {}, buf_g[:, :, 1])
    assert dz_c.dtype == dh_c.dtype == dc_c.dtype == dtype
    for got, want in ((dz_c, dz_g), (dh_c, dh_g), (dc_c, dc_g)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    assert np.isnan(buf_c[:, :, [0, 2]]).all()  # only its own step's slice written


def _net(layers=2, readout="all"):
    from ablab.core.engine.model import RecurrentNet, RecurrentSpec

    return RecurrentNet(RecurrentSpec(n_in=3, n_out=2, hidden=5, cell="lstm", layers=layers, readout=readout), REGISTRY)


def _per_step(net):
    """The same net without tapes: the forward's general step_z, the backward step by step."""
    for cell in net.cells:
        cell.new_tape = lambda *args: None
    return net


def test_only_the_standard_lstm_class_gets_a_tape():
    assert lstm().new_tape(2, 3, 4, 5, np.float32) is not None
    assert REGISTRY.get("cell", "lstm-peephole")(REGISTRY).new_tape(2, 3, 4, 5, np.float32) is None
    assert lstm(coupled=True).new_tape(2, 3, 4, 5, np.float32) is None

    class OwnStep(REGISTRY.get("cell", "lstm")):  # a plugin's change must not be skipped by the compiled path
        def step_z(self, p, z, state, recompute, tape=None, t=0):
            return super().step_z(p, z, state, recompute)

    assert OwnStep(REGISTRY).new_tape(2, 3, 4, 5, np.float32) is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_taped_forward_is_bit_identical_to_the_general_step(dtype):
    net, plain = _net(), _per_step(_net())
    params = net.init([0, 1], dtype=dtype)
    x = np.random.default_rng(5).normal(size=(2, 6, 3, 3)).astype(dtype)
    y, cache = net.forward(params, x)
    y_plain, cache_plain = plain.forward(params, x)
    assert all(tape is not None for tape in cache["tapes"]) and cache_plain["tapes"] == [None, None]
    np.testing.assert_array_equal(y, y_plain)
    for steps, steps_plain in zip(cache["steps"], cache_plain["steps"]):
        for step, step_plain in zip(steps, steps_plain):
            for field in ("gates", "i", "f", "o", "g", "c", "psi_c", "h_prev", "c_prev"):
                np.testing.assert_array_equal(getattr(step, field), getattr(step_plain, field), err_msg=field)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 2e-5)])
@pytest.mark.parametrize("readout, window", [("all", None), ("last", None), ("all", 4)])
def test_whole_chunk_backward_matches_the_per_step_backward(dtype, rtol, readout, window, monkeypatch):
    """backward_steps (one compiled call per chunk) against backward_step per step, on chunks of
    3 steps of 7 (so a partial chunk too), with and without truncation."""
    import ablab.core.engine.model as model

    monkeypatch.setattr(model, "DA_CHUNK_BYTES", 3 * 4 * 4 * 5 * np.dtype(dtype).itemsize)  # 3 steps of B 4, 4 x 5
    net, plain = _net(readout=readout), _per_step(_net(readout=readout))
    params = net.init([0, 1, 2], dtype=dtype)
    x = np.random.default_rng(6).normal(size=(3, 7, 4, 3)).astype(dtype)
    y, cache = net.forward(params, x)
    dy = np.random.default_rng(7).normal(size=y.shape).astype(dtype)
    grads, dx = net.backward(params, dy, cache, window)
    grads_plain, dx_plain = plain.backward(params, dy, plain.forward(params, x)[1], window)
    assert dx.dtype == dtype and all(g.dtype == dtype for g in grads.values())
    np.testing.assert_allclose(dx, dx_plain, rtol=rtol, atol=rtol)
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_plain[k], rtol=rtol, atol=rtol, err_msg=k)
