"""The recurrent-cell contract (plain form; speed paths are opt-in, see fused_cell.py).

A cell sees its input already projected: ablab computes a_t = x_t W + b for all time steps
in one matmul before the time loop (and dW, dx in one matmul after it), so a cell holds only
its recurrent arithmetic. W has `n_blocks * H` columns, one block per gate or candidate.

    step(p, a_t, state)                      -> (state_t, cache)
    backward_step(p, dstate_t, cache, grads) -> (da_t, dstate_{t-1})

`p` maps each recurrent parameter name (from `recurrent_params`) to its array. `grads` maps
each of them to an accumulator that backward_step adds its gradient into (summing over time
steps is the BPTT sum). Every array carries a leading ensemble axis S: a_t is
(S, B, n_blocks*H), each state (S, B, H), a recurrent matrix (S, H, k*H), a vector (S, H).
States are tuples whose first element is the output h.

The cache is the cell's own: ablab stores it and hands it back to backward_step,
gate_values and activation_values. One rule lets probes look inside (the state Jacobian runs
backward_step for one example): a cache is a tuple (a NamedTuple reads best) whose array
fields have the batch on axis 1, (S, B, ...); any other field is passed along as it is.

A cell that wants ablab's speed paths (hoisted recurrent gradients, transposed matrices,
da_t written in place, the block-major gate layout, the fused per-step matmul) subclasses
FusedCell instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ablab.core.engine.options import check_options
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
    # True only for FusedCell: the one switch the model reads to take the speed paths.
    fused: ClassVar[bool] = False
    # The option naming the cell's main (non-gate) activation, which `model.activation` sets, so
    # one study axis "model.activation" = ["relu", "tanh"] spans cells whose options differ.
    activation_option: ClassVar[str | None] = None

    def __init__(self, registry, **options: Any) -> None:
        self.options = check_options(f"cell {type(self).__name__}", self.defaults, options, min_whole=1)
        self.registry = registry

    # -- shape of the cell ---------------------------------------------------------------
    @property
    def n_blocks(self) -> int:
        """Column blocks of the input projection W (one per gate or candidate): W is (D, n_blocks*H)."""
        raise NotImplementedError

    def recurrent_params(self, hidden: int) -> dict[str, RecurrentParam]:
        """The cell's recurrent parameters by name, e.g. {"U": RecurrentParam("matrix", 4)}."""
        raise NotImplementedError

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
        shaped (S, B, ...) (see docs/plugins.md, "What probes read")."""
        raise NotImplementedError

    def backward_step(self, p: dict, dstate: tuple, cache: Any, grads: dict) -> tuple[np.ndarray, tuple]:
        """dL/dstate_t and the step's cache -> (da_t, dL/dstate_{t-1}); adds every recurrent
        parameter's gradient into grads[name]."""
        raise NotImplementedError

    # -- what probes may read ----------------------------------------------------------
    def gate_values(self, cache: Any) -> dict[str, np.ndarray]:
        """Gate activations at one step, name -> (S, B, H). Cells without gates return {}."""
        return {}

    def activation_values(self, cache: Any) -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
        """(name, bound activation, pre-activation, output) at one step, each array (S, B, H):
        what the dead-unit, saturation and mean-shift probes read."""
        return []


def cell_options(cell_cls: type, name: str, options: dict, activation: Any) -> dict:
    """A cell's options with `model.activation` folded in under the cell's own option name."""
    if activation is None:
        return dict(options)
    key = cell_cls.activation_option
    if key is None:
        raise ConfigError(
            f"model.activation: cell {name!r} has no activation to set; set it through model.cell_options "
            f"(options: {', '.join(cell_cls.defaults) or 'none'})"
        )
    if key in options:
        raise ConfigError(
            f"model.activation and model.cell_options.{key} both set cell {name!r}'s activation; keep one"
        )
    return {**options, key: activation}


def constrains(cell: Cell) -> bool:
    """Whether the cell overrides constrain() (the training loop skips the call otherwise)."""
    return type(cell).constrain is not Cell.constrain


def preset(base: type, summary: str, **overrides: Any) -> type:
    """A registered variant of a cell with other defaults (e.g. lstm-peephole)."""
    check_options(f"cell {base.__name__}", base.defaults, overrides, min_whole=1)
    return type(base.__name__ + "Preset", (base,), {"defaults": {**base.defaults, **overrides}, "summary": summary})


def validate_plugin(name: str, obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Cell)):
        raise PluginError(f"cell {name!r} must be a subclass of ablab.core.engine.cell.Cell, got {obj!r}")
    required = ["recurrent_params", "step", "backward_step"]
    bases = [Cell]
    if obj.fused:
        from ablab.core.engine.fused_cell import FusedCell  # fused_cell imports this module

        bases.append(FusedCell)
        if obj.fused_matrix is not None:
            required[1] = "step_z"  # step() then comes from FusedCell
        if not isinstance(obj.block_major, bool):
            raise PluginError(
                f"cell {name!r} ({obj.__qualname__}): block_major must be True or False, got {obj.block_major!r}"
            )
    for method in required:
        if any(getattr(obj, method) is getattr(base, method, None) for base in bases):
            raise PluginError(f"cell {name!r} ({obj.__qualname__}) does not implement {method}()")
