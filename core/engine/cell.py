"""The recurrent-cell contract.

A cell sees its input already projected: ablab computes a_t = x_t W + b for all time steps
in one matmul before the time loop (and dW, dx in one matmul after it), so a cell holds only
its recurrent arithmetic. W has `n_blocks * H` columns, one block per gate or candidate.

    step(p, a_t, state)                     -> (state_t, cache)
    backward_step(p, dstate_t, cache, grads) -> (da_t, dstate_{t-1})

`grads` maps each recurrent parameter name to an accumulator that backward_step adds into
(summing a parameter's gradient over time steps is the BPTT sum). A matrix listed in
`hoisted(H)` is the exception: its gradient is sum_t h_{t-1}^T da_t[:, cols], and ablab
computes it after the time loop as one large matmul over all steps, which is several times
faster than T small ones; backward_step leaves it alone. In backward_step, `p` also holds
"NAME.T": each recurrent matrix transposed into contiguous memory, which BLAS multiplies
faster than a transposed view. Every array carries a
leading ensemble axis S: a_t is (S, B, n_blocks*H), each state (S, B, H), a recurrent matrix
(S, H, k*H). States are tuples whose first element is the output h.

Optional fast path: a cell whose pre-activation is z_t = a_t + h_{t-1} U over all its columns
(hoisted(H) names one matrix, with cols slice(None)) may implement

    step_z(p, z_t, state, recompute)         -> (state_t, cache)

the same step, given z_t. ablab then computes z_t = [x_t, 1, h_{t-1}] [W; b; U] in one
matmul per step, which spares the separate input projection and the addition of a_t;
`recompute()` returns z_t again bit for bit, for a cache that leaves z_t out.

backward_step may take a keyword `out`: ablab then passes the (S, B, n_blocks*H) slice of its
all-steps buffer for da_t, the cell writes da_t there and returns `out`, and one copy of
da_t per step is saved. Cells without the keyword work unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ablab.core.errors import ConfigError, PluginError


@dataclass(frozen=True)
class RecurrentParam:
    """One recurrent parameter of a cell, per ensemble member:

    - kind "matrix": shape (H, blocks * H), drawn block by block with the study's recurrent
      initialiser (model.recurrent_init, rescaled to model.spectral_radius when set);
    - kind "vector": shape (H,), zeros (peepholes, extra biases).

    `init(rng, hidden)`, when given, replaces that default: it returns the member's float64
    array of the shape above and must draw only from `rng`, the member's own generator (so
    member s of an ensemble equals a solo run with seed s). IndRNN's u ~ uniform[0, 1] is
    `RecurrentParam("vector", init=lambda rng, hidden: rng.uniform(0, 1, hidden))`.
    """

    kind: str  # "matrix" | "vector"
    blocks: int = 1  # matrices only: gate blocks side by side
    init: Callable[[np.random.Generator, int], np.ndarray] | None = None

    def __post_init__(self):
        if self.kind not in ("matrix", "vector"):
            raise PluginError(f"RecurrentParam kind must be 'matrix' or 'vector', got {self.kind!r}")
        if isinstance(self.blocks, bool) or not isinstance(self.blocks, int) or self.blocks < 1:
            raise PluginError(f"RecurrentParam blocks must be a whole number >= 1, got {self.blocks!r}")
        if self.init is not None and not callable(self.init):
            raise PluginError(f"RecurrentParam init must be a function init(rng, hidden), got {self.init!r}")

    def shape(self, hidden: int) -> tuple[int, ...]:
        """One member's shape: (H, blocks*H) for a matrix, (H,) for a vector."""
        return (hidden, self.blocks * hidden) if self.kind == "matrix" else (hidden,)


class Cell:
    """Base class for cells. Subclasses set `defaults` (option name -> default value; its type
    fixes the option's type), `n_blocks`, `state_names`, and implement the methods below."""

    summary: str = ""
    defaults: dict[str, Any] = {}
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, registry, **options: Any) -> None:
        self.options = check_options(type(self), options)
        self.registry = registry

    # -- shape of the cell ---------------------------------------------------------------
    @property
    def n_blocks(self) -> int:
        """Column blocks of the input projection W (one per gate or candidate): W is (D, n_blocks*H)."""
        raise NotImplementedError

    def recurrent_params(self, hidden: int) -> dict[str, RecurrentParam]:
        """The cell's recurrent parameters by name, e.g. {"U": RecurrentParam("matrix", 4)}."""
        raise NotImplementedError

    def hoisted(self, hidden: int) -> dict[str, slice]:
        """Recurrent matrices M applied as h_{t-1} M to produce the columns `cols` of the
        pre-activation z_t = a_t + ...; then dM = sum_t h_{t-1}^T da_t[..., cols]."""
        return {}

    def bias_init(self, hidden: int) -> np.ndarray:
        """Initial value of the input-projection bias b, length n_blocks * H."""
        return np.zeros(self.n_blocks * hidden)

    def constrain(self, p: dict) -> None:
        """Optional: called after every optimiser step with this layer's parameters (the
        ensemble arrays themselves, (S, ...), keys as in recurrent_params plus "W" and "b");
        modify them in place, member by member (IndRNN clips |u| <= 2^(1/T) here)."""

    # -- arithmetic --------------------------------------------------------------------
    def step(self, p: dict, a: np.ndarray, state: tuple) -> tuple[tuple, Any]:
        """One time step: a_t (S, B, n_blocks*H) and the state tuple (h first, each (S, B, H))
        -> (new state tuple, cache). The cache holds what backward_step needs, every array in it
        shaped (S, B, ...) (see docs/plugins.md, "What probes read from a cell")."""
        raise NotImplementedError

    def backward_step(self, p: dict, dstate: tuple, cache: Any, grads: dict) -> tuple[np.ndarray, tuple]:
        """dL/dstate_t and the step's cache -> (da_t, dL/dstate_{t-1}); adds each recurrent
        parameter's gradient into grads[name] (except hoisted matrices). p also holds "NAME.T"."""
        raise NotImplementedError

    def step_z(self, p: dict, z: np.ndarray, state: tuple, recompute) -> tuple[tuple, Any]:
        """Optional: step() given z_t = a_t + h_{t-1} U (see the module docstring)."""
        raise NotImplementedError

    # -- what probes may read ----------------------------------------------------------
    def gate_values(self, cache: Any) -> dict[str, np.ndarray]:
        """Gate activations at one step, name -> (S, B, H). Cells without gates return {}."""
        return {}

    def activation_values(self, cache: Any) -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
        """(name, bound activation, pre-activation, output) at one step, each array (S, B, H):
        what the dead-unit, saturation and mean-shift probes read."""
        return []


def fused_matrix(cell: Cell, hidden: int) -> str | None:
    """The recurrent matrix ablab may fold into the per-step matmul (see step_z), or None.
    Only when step and step_z come from the same class: a subclass that overrides step()
    alone must have its step() called."""

    def owner(name):
        return next(k for k in type(cell).__mro__ if name in vars(k))

    if owner("step_z") is Cell or owner("step_z") is not owner("step"):
        return None
    hoisted = cell.hoisted(hidden)
    if len(hoisted) == 1:
        ((name, cols),) = hoisted.items()
        if cols == slice(None):
            return name
    return None


def constrains(cell: Cell) -> bool:
    """Whether the cell overrides constrain() (the training loop skips the call otherwise)."""
    return type(cell).constrain is not Cell.constrain


def writes_da_in_place(cell: Cell) -> bool:
    """Whether cell.backward_step accepts `out` (see the module docstring)."""
    return "out" in inspect.signature(cell.backward_step).parameters


def with_transposes(cell: Cell, p: dict, hidden: int) -> dict:
    """The parameter dict backward_step receives: p plus a contiguous "NAME.T" per matrix."""
    out = dict(p)
    for name, rp in cell.recurrent_params(hidden).items():
        if rp.kind == "matrix":
            out[name + ".T"] = np.ascontiguousarray(p[name].transpose(0, 2, 1))
    return out


def check_options(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    merged = dict(cls.defaults)
    for key, value in options.items():
        if key not in cls.defaults:
            allowed = ", ".join(f"{k} (default {v!r})" for k, v in cls.defaults.items()) or "none"
            raise ConfigError(f"{cls.__name__} has no option {key!r}; options: {allowed}")
        default = cls.defaults[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"cell option {key!r} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"option {key!r} must be a whole number >= 1, got {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"cell option {key!r} must be a number, got {value!r}")
            value = float(value)
        elif isinstance(default, str):
            if not isinstance(value, (str, dict)):
                raise ConfigError(f"cell option {key!r} must be a name, got {value!r}")
        merged[key] = value
    return merged


def preset(base: type, summary: str, **overrides: Any) -> type:
    """A registered variant of a cell with other defaults (e.g. lstm-peephole)."""
    check_options(base, overrides)
    return type(base.__name__ + "Preset", (base,), {"defaults": {**base.defaults, **overrides}, "summary": summary})


def validate_plugin(name: str, obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Cell)):
        raise PluginError(f"cell {name!r} must be a subclass of ablab.core.engine.cell.Cell, got {obj!r}")
    for method in ("recurrent_params", "step", "backward_step"):
        if getattr(obj, method) is getattr(Cell, method):
            raise PluginError(f"cell {name!r} ({obj.__qualname__}) does not implement {method}()")
