"""Finite-difference gradient checks in float64.

Each check compares the analytic directional derivative <grad, v> with the central
difference (L(x + eps v) - L(x - eps v)) / 2 eps along random directions v, one parameter at
a time so a failure names the parameter (after HIPS/autograd's check_vjp idea).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ablab.core.engine.fused_cell import backward_into, backward_params, hoisted, hoisted_grad, step_shape
from ablab.core.engine.losses import LOSSES
from ablab.core.errors import AblabError

EPS = 1e-5
TOL = 1e-6
FLOOR = 1e-4  # below this size, the error is measured in absolute terms


class GradcheckError(AblabError, AssertionError):
    """An analytic gradient disagrees with finite differences."""


def relative_error(analytic: float, numeric: float) -> float:
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), FLOOR)


def check_gradients(
    loss: Callable[[], float],
    inputs: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    what: str,
    *,
    seed: int = 0,
    directions: int = 2,
    tol: float = TOL,
) -> dict[str, float]:
    """Check grads[k] = dL/d inputs[k] for every k. `loss()` reads the arrays in `inputs`,
    which are perturbed in place and restored. Returns the worst relative error per input."""
    rng = np.random.default_rng(seed)
    errors: dict[str, float] = {}
    for key, x in inputs.items():
        assert x.dtype == np.float64, f"gradient checks run in float64, {key} is {x.dtype}"
        worst = 0.0
        for _ in range(directions):
            v = rng.standard_normal(x.shape)
            analytic = float(np.vdot(grads[key], v))
            original = x.copy()
            x += EPS * v
            plus = loss()
            x[...] = original - EPS * v
            minus = loss()
            x[...] = original
            numeric = (plus - minus) / (2 * EPS)
            worst = max(worst, relative_error(analytic, numeric))
        errors[key] = worst
        if worst > tol:
            raise GradcheckError(
                f"{what}: gradient of {key!r} is wrong: relative error {worst:.2e} > {tol:.0e} "
                f"(analytic {analytic:.8g} vs finite difference {numeric:.8g})"
            )
    return errors


def check_cell(
    registry, name: str, options: dict[str, Any] | None = None, *, S=2, T=4, B=3, H=3, seed=0
) -> dict[str, float]:
    """Check a cell's backward_step, first over one step, output by output (each recurrent
    parameter's gradient, da, and d{state}_prev such as dh_prev and dc_prev), so a failure
    names the wrong output; then over T steps: recurrent parameters, projected inputs a_t and
    the initial state, for an ensemble of S members."""
    cell = registry.get("cell", name)(registry, **(options or {}))
    _check_one_step(cell, f"cell {name!r} {options or {}}", S=S, B=B, H=H, seed=seed)
    rng = np.random.default_rng(seed)
    p = {}
    for key, rp in cell.recurrent_params(H).items():
        shape = (S, H, rp.blocks * H) if rp.kind == "matrix" else (S, H)
        p[key] = rng.normal(0, 0.6, shape)
    a = rng.normal(0, 1.0, (S, T, *step_shape(cell, S, B, H)[1:]))
    state0 = {f"state0.{n}": rng.normal(0, 0.5, (S, B, H)) for n in cell.state_names}
    r_h = rng.normal(0, 1.0, (S, T, B, H)) / np.sqrt(S * T * B * H)
    r_last = [rng.normal(0, 1.0, (S, B, H)) / np.sqrt(S * B * H) for _ in cell.state_names]

    def run():
        state = tuple(state0.values())
        caches, hs, total = [], [], 0.0
        for t in range(T):
            state, cache = cell.step(p, a[:, t], state)
            caches.append(cache)
            hs.append(state[0])
            total += float(np.vdot(r_h[:, t], state[0]))
        total += sum(float(np.vdot(r, s)) for r, s in zip(r_last, state))
        return total, caches, hs

    _, caches, hs = run()
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    da = np.zeros_like(a)
    dstate = tuple(r.copy() for r in r_last)
    pb = backward_params(cell, p, H)
    for t in reversed(range(T)):
        dstate = (dstate[0] + r_h[:, t],) + dstate[1:]
        dstate = backward_into(cell, pb, dstate, caches[t], grads, da[:, t])
    h_seq = [state0[f"state0.{cell.state_names[0]}"]] + hs[:-1]
    for name, cols in hoisted(cell, H).items():  # gradients ablab sums after the time loop
        for t in range(T):
            grads[name] += hoisted_grad(cell, h_seq[t], da[:, t], cols)
    grads["a"] = da
    grads.update({k: d for k, d in zip(state0, dstate)})
    inputs = {**p, "a": a, **state0}
    return check_gradients(lambda: run()[0], inputs, grads, f"cell {name!r} {options or {}}", seed=seed)


def _check_one_step(cell, what: str, *, S: int, B: int, H: int, seed: int) -> dict[str, float]:
    """One step, L = <r, state_t>: backward_step's outputs are then exactly the gradients of L
    with respect to its inputs, so each output is checked on its own: a bug in dh_prev is
    reported as dh_prev, not as a parameter gradient it leaked into over time."""
    rng = np.random.default_rng(seed + 1)
    p = {}
    for key, rp in cell.recurrent_params(H).items():
        p[key] = rng.normal(0, 0.6, (S, *rp.shape(H)))
    inputs = {"da": rng.normal(0, 1.0, step_shape(cell, S, B, H))}
    inputs.update({f"d{n}_prev": rng.normal(0, 0.5, (S, B, H)) for n in cell.state_names})
    r = [rng.normal(0, 1.0, (S, B, H)) for _ in cell.state_names]
    names = list(inputs)

    def loss() -> float:
        state, _ = cell.step(p, inputs["da"], tuple(inputs[k] for k in names[1:]))
        return sum(float(np.vdot(ri, s)) for ri, s in zip(r, state))

    _, cache = cell.step(p, inputs["da"], tuple(inputs[k] for k in names[1:]))
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    da = np.empty_like(inputs["da"])
    dprev = backward_into(cell, backward_params(cell, p, H), tuple(ri.copy() for ri in r), cache, grads, da)
    h_prev = inputs[names[1]]
    hoisted_cols = hoisted(cell, H)
    for key, cols in hoisted_cols.items():  # summed by ablab after the time loop
        grads[key] += hoisted_grad(cell, h_prev, da, cols)
    grads.update({"da": da, **dict(zip(names[1:], dprev))})
    # the cell's own parameter gradients first, then da, then the state gradients, then the
    # hoisted matrices, whose gradient ablab derives from da: each failure names its cause
    order = {**{k: v for k, v in p.items() if k not in hoisted_cols}, **inputs, **{k: p[k] for k in hoisted_cols}}
    return check_gradients(loss, order, grads, f"{what} (one step)", seed=seed)


def check_activation(registry, name: str, options: dict | None = None, *, seed=0) -> dict[str, float]:
    act = registry.get("activation", name).bind(options)
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2.0, 64)
    x[np.abs(x) < 1e-3] += 0.01  # keep samples off the kink at 0
    r = rng.normal(0, 1.0, 64) / 8
    grads = {"x": r * act.deriv(x, act(x))}
    return check_gradients(lambda: float(np.vdot(r, act(x))), {"x": x}, grads, f"activation {name!r}", seed=seed)


def check_loss(name: str, *, every_step: bool = False, seed=0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    S, T, B, O = 2, 3, 4, 5
    shape = (S, T, B, O) if every_step else (S, B, O)
    y = rng.normal(0, 1.0, shape)
    if name == "xent":
        target = rng.integers(0, O, shape[:-1])
    else:
        target = rng.normal(0, 1.0, shape)
    mask = (rng.random(shape[:-1]) < 0.6).astype(np.float64) if every_step else None
    if mask is not None:
        mask[:, 0, 0] = 1.0  # at least one scored step per member
    fn = LOSSES[name]
    weights = rng.normal(0, 1.0, S)  # distinct per-member weights catch cross-member mixing

    def total():
        return float(np.dot(weights, fn(y, target, mask)[0]))

    _, dy = fn(y, target, mask)
    grads = {"y": dy * weights.reshape((S,) + (1,) * (y.ndim - 1))}
    return check_gradients(total, {"y": y}, grads, f"loss {name!r}", seed=seed)


def check_model(net, *, loss: str = "mse", S=2, T=5, B=3, seed=0, tol: float = TOL) -> dict[str, float]:
    """Whole-model check: every parameter of a stacked network and its input, through the
    readout and a loss, in float64."""
    rng = np.random.default_rng(seed)
    seeds = [seed + i for i in range(S)]  # seed 0: members 0 and 1, as before seeds were passed
    params = net.init(seeds, np.float64)
    for k in params:  # move off the initial values (zero biases, zero peepholes)
        params[k] += rng.normal(0, 0.1, params[k].shape)
    spec = net.spec
    tokens = net.embedding is not None
    x = rng.integers(0, spec.vocab, (S, T, B)) if tokens else rng.normal(0, 1.0, (S, T, B, spec.n_in))
    out_shape = (S, B) if spec.readout == "last" else (S, T, B)
    if loss == "xent":
        target = rng.integers(0, spec.n_out, out_shape)
    else:
        target = rng.normal(0, 1.0, out_shape + (spec.n_out,))
    mask = None if spec.readout == "last" else (rng.random((S, T, B)) < 0.7).astype(np.float64)
    if mask is not None:
        mask[:, -1, :] = 1.0
    fn = LOSSES[loss]

    def total():
        y, _ = net.forward(params, x)
        return float(fn(y, target, mask)[0].sum())

    y, cache = net.forward(params, x)
    _, dy = fn(y, target, mask)
    grads, dx = net.backward(params, dy, cache)
    inputs, analytic = (
        ({**params}, {**grads}) if tokens else ({**params, "x": x}, {**grads, "x": dx})
    )  # tokens have no gradient
    if tokens and not net.embedding.trainable:  # a frozen embedding's gradient is zero on purpose
        inputs = {k: v for k, v in inputs.items() if not k.startswith("emb.")}
    return check_gradients(total, inputs, analytic, f"model {spec.cell} x{spec.layers}", seed=seed, tol=tol)


def check_feedforward(net, *, S=2, B=6, seed=0, tol: float = TOL) -> dict[str, float]:
    """Whole-model check of a deep feedforward net (batch normalisation included) under MSE."""
    rng = np.random.default_rng(seed)
    params = net.init([seed + i for i in range(S)], np.float64)
    for k in params:
        params[k] += rng.normal(0, 0.1, params[k].shape)
    x = rng.normal(0, 1.0, (S, B, net.spec.n_in))
    target = rng.normal(0, 1.0, (S, B, net.spec.n_out))

    def total():
        y, _ = net.forward(params, x)
        return float(LOSSES["mse"](y, target)[0].sum())

    y, cache = net.forward(params, x)
    _, dy = LOSSES["mse"](y, target)
    grads, dx = net.backward(params, dy, cache)
    s = net.spec
    what = (
        f"feedforward depth {s.depth} {net.f.name} batchnorm={s.batchnorm} residual={s.residual} skipinit={s.skipinit}"
    )
    return check_gradients(total, {**params, "x": x}, {**grads, "x": dx}, what, seed=seed, tol=tol)
