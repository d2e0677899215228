"""Adam in one compiled pass (core/engine/adam_kernel.py) gives numpy's bits, frozen members
included, and leaves the cases it cannot promise that for to numpy."""

import numpy as np
import pytest

from ablab.core.engine import adam_kernel, optim
from ablab.core.engine.optim import OptimizerSpec, init_state, update


def train_steps(params: dict, spec: OptimizerSpec, compiled: bool, frozen: bool, monkeypatch, lr_type=float):
    monkeypatch.setattr(optim, "COMPILED_ADAM", compiled)
    monkeypatch.setattr(optim, "COMPILED_ADAM_SIZE", 0)  # these arrays are small
    params = {k: v.copy() for k, v in params.items()}
    state = init_state(spec, params)
    rng = np.random.default_rng(1)
    for step in range(25):
        # gradients over eleven orders of magnitude, so that eps and the moments' rounding matter
        grads = {
            k: (rng.standard_normal(v.shape) * 10 ** rng.uniform(-8, 3)).astype(v.dtype) for k, v in params.items()
        }
        active = None
        if frozen and step >= 5:
            active = np.array([True, False, True, True, False])
            for g in grads.values():
                g[~active] = 0.0
        update(spec, params, grads, state, lr_type(0.01 * 0.5 ** (step // 7)), active)
    return params, state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("frozen", [False, True])
def test_compiled_adam_gives_numpys_bits(dtype, frozen, monkeypatch):
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((5, 7, 9)).astype(dtype), "b": rng.standard_normal((5, 3)).astype(dtype)}
    spec = OptimizerSpec(name="adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7)
    taken = []
    real = adam_kernel.update_adam
    monkeypatch.setattr(adam_kernel, "update_adam", lambda *a, **kw: taken.append(real(*a, **kw)) or taken[-1])
    compiled, state_c = train_steps(params, spec, True, frozen, monkeypatch)
    assert taken == [True] * 50  # two arrays, 25 steps: every update went through the compiled pass
    plain, state_p = train_steps(params, spec, False, frozen, monkeypatch)
    assert state_c["t"] == state_p["t"] == 25
    for k in params:
        np.testing.assert_array_equal(compiled[k], plain[k])
        np.testing.assert_array_equal(state_c["m"][k], state_p["m"][k])
        np.testing.assert_array_equal(state_c["v"][k], state_p["v"][k])
        assert not np.array_equal(compiled[k], params[k])
    if frozen:  # members 1 and 4 stopped moving after step 5
        stopped, _ = train_steps({k: v for k, v in params.items()}, spec, True, False, monkeypatch)
        assert not np.array_equal(compiled["W"][1], stopped["W"][1])


def test_the_compiled_pass_declines_what_it_cannot_match():
    spec = OptimizerSpec(name="adam")
    p = np.ones((2, 3), np.float32)
    ok = dict(g=np.ones((2, 3), np.float32), m=np.zeros((2, 3), np.float32), v=np.zeros((2, 3), np.float32))
    assert adam_kernel.update_adam(spec, p.copy(), **ok, t=1, lr=0.1, active=None)
    assert not adam_kernel.update_adam(spec, p.copy(), **ok, t=1, lr=np.float64(0.1), active=None)  # a strong scalar
    assert not adam_kernel.update_adam(spec, np.ones((3, 2), np.float32).T, **ok, t=1, lr=0.1, active=None)
    mixed = dict(ok, g=np.ones((2, 3)))
    assert not adam_kernel.update_adam(spec, p.copy(), **mixed, t=1, lr=0.1, active=None)
    assert not adam_kernel.update_adam(spec, np.ones((2, 3), np.float16), **ok, t=1, lr=0.1, active=None)


def test_a_numpy_scalar_learning_rate_still_updates_through_numpy(monkeypatch):
    rng = np.random.default_rng(2)
    params = {"W": rng.standard_normal((5, 4)).astype(np.float32)}
    spec = OptimizerSpec(name="adam")
    strong, _ = train_steps(params, spec, True, False, monkeypatch, lr_type=np.float64)
    plain, _ = train_steps(params, spec, False, False, monkeypatch, lr_type=np.float64)
    np.testing.assert_array_equal(strong["W"], plain["W"])


def test_small_arrays_stay_with_numpy(monkeypatch):
    taken = []
    monkeypatch.setattr(adam_kernel, "update_adam", lambda *a, **kw: taken.append(a) or True)
    spec = OptimizerSpec(name="adam")
    small = {"W": np.ones((2, optim.COMPILED_ADAM_SIZE // 2 - 1), np.float32)}
    update(spec, small, {"W": np.ones_like(small["W"])}, init_state(spec, small), 0.01)
    assert taken == [] and not np.array_equal(small["W"], 1)  # numpy's passes moved it
    big = {"W": np.ones((2, optim.COMPILED_ADAM_SIZE // 2), np.float32)}
    update(spec, big, {"W": np.ones_like(big["W"])}, init_state(spec, big), 0.01)
    assert len(taken) == 1
