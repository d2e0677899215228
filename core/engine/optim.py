"""Optimisers and learning-rate schedules, vectorised over the ensemble axis.

An optimiser is a pair of pure functions: `init(params) -> state` and
`update(params, grads, state, lr, active)`, which updates params and state in place.
`active` (S,) bool freezes diverged members: their parameters and state stay unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ablab.core.engine.spec import in_range, one_of, positive, positive_int

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class OptimizerSpec:
    name: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9  # momentum: velocity decay
    nesterov: bool = False
    rho: float = 0.9  # rmsprop: decay of the squared-gradient average
    beta1: float = 0.9  # adam (Kingma & Ba 2015 defaults)
    beta2: float = 0.999
    eps: float = 1e-8
    schedule: str = "constant"
    step_every: int = 100  # step schedule: multiply lr by gamma every step_every steps
    gamma: float = 0.5
    min_lr: float = 0.0  # cosine schedule: lr at the last step

    def __post_init__(self):
        one_of(self.name, "optimizer.name", OPTIMIZERS)
        positive(self.lr, "optimizer.lr")
        in_range(self.momentum, "optimizer.momentum", 0.0, 0.999999)
        in_range(self.rho, "optimizer.rho", 0.0, 0.999999)
        in_range(self.beta1, "optimizer.beta1", 0.0, 0.999999)
        in_range(self.beta2, "optimizer.beta2", 0.0, 0.999999)
        positive(self.eps, "optimizer.eps")
        one_of(self.schedule, "optimizer.schedule", SCHEDULES)
        positive_int(self.step_every, "optimizer.step_every")
        in_range(self.gamma, "optimizer.gamma", 0.0, 1.0)
        in_range(self.min_lr, "optimizer.min_lr", 0.0, self.lr)


def learning_rate(spec: OptimizerSpec, step: int, total_steps: int) -> float:
    if spec.schedule == "step":
        return spec.lr * spec.gamma ** (step // spec.step_every)
    if spec.schedule == "cosine":
        progress = step / max(total_steps - 1, 1)
        return spec.min_lr + 0.5 * (spec.lr - spec.min_lr) * (1 + math.cos(math.pi * progress))
    return spec.lr


# Adam in one compiled pass per array, with numpy's bits (adam_kernel.py); False: numpy alone.
# Only for arrays of COMPILED_ADAM_SIZE elements or more: below, numpy's passes cost
# microseconds, and a small study's worker processes need not import numba (~0.5 s) for them.
COMPILED_ADAM = True
COMPILED_ADAM_SIZE = 1 << 15


def _adam_kernel():
    from ablab.core.engine import adam_kernel  # lazy: numba's import is paid on the first Adam step

    return adam_kernel


SLOTS = {"sgd": (), "momentum": ("v",), "rmsprop": ("s",), "adam": ("m", "v")}  # per-parameter state


def init_state(spec: OptimizerSpec, params: dict) -> dict:
    state = {slot: {k: np.zeros_like(p) for k, p in params.items()} for slot in SLOTS[spec.name]}
    state["t"] = 0
    return state


def _freeze(update: np.ndarray, active: np.ndarray | None) -> np.ndarray:
    if active is None:
        return update
    return update * active.reshape((-1,) + (1,) * (update.ndim - 1))


def update(
    spec: OptimizerSpec, params: dict, grads: dict, state: dict, lr: float, active: np.ndarray | None = None
) -> None:
    """One step for every member. Frozen members (active False) must come with zero (finite)
    grads; their parameters and their rows of every state slot are left as they were."""
    state["t"] += 1
    t = state["t"]
    frozen = None if active is None or active.all() else ~active
    for k, p in params.items():
        g = grads[k]
        # the frozen members' state rows, put back after the in-place updates below
        kept = [(state[slot][k], state[slot][k][frozen]) for slot in SLOTS[spec.name]] if frozen is not None else []
        if spec.name == "sgd":
            step = g
        elif spec.name == "momentum":
            v = state["v"][k]
            v *= spec.momentum
            v += g
            step = g + spec.momentum * v if spec.nesterov else v
        elif spec.name == "rmsprop":
            s = state["s"][k]
            s *= spec.rho
            s += (1 - spec.rho) * g * g
            step = g / (np.sqrt(s) + spec.eps)
        else:
            m, v = state["m"][k], state["v"][k]
            big = COMPILED_ADAM and p.size >= COMPILED_ADAM_SIZE
            if big and _adam_kernel().update_adam(spec, p, g, m, v, t, lr, active):
                for buffer, rows in kept:
                    buffer[frozen] = rows
                continue
            m *= spec.beta1
            m += (1 - spec.beta1) * g
            v *= spec.beta2
            v += (1 - spec.beta2) * g * g
            mhat = m / (1 - spec.beta1**t)
            vhat = v / (1 - spec.beta2**t)
            step = mhat / (np.sqrt(vhat) + spec.eps)
        p -= _freeze(lr * step, active).astype(p.dtype, copy=False)
        for buffer, rows in kept:
            buffer[frozen] = rows
