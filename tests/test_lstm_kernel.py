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
