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
da_t written in place, the fused per-step matmul) subclasses FusedCell instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ablab.core.engine.options import check_options
from ablab.core.errors import PluginError


@dataclass(frozen=True)
class RecurrentParam:
    """How to create one recurrent parameter: a matrix (H, blocks*H) drawn with the recurrent
    initialiser, or a zero-initialised vector of length `size` (peepholes, extra biases)."""

    kind: str  # "matrix" | "vector"
    blocks: int = 1


class Cell:
    """Base class for cells. Subclasses set `defaults` (option name -> default value; its type
    fixes the option's type), `n_blocks`, `state_names`, and implement the methods below."""

    summary: str = ""
    defaults: dict[str, Any] = {}
    state_names: tuple[str, ...] = ("h",)
    # True only for FusedCell: the one switch the model reads to take the speed paths.
    fused: ClassVar[bool] = False

    def __init__(self, registry, **options: Any) -> None:
        self.options = check_options(f"cell {type(self).__name__}", self.defaults, options, min_whole=1)
        self.registry = registry

    # -- shape of the cell ---------------------------------------------------------------
    @property
    def n_blocks(self) -> int:
        raise NotImplementedError

    def recurrent_params(self, hidden: int) -> dict[str, RecurrentParam]:
        raise NotImplementedError

    def bias_init(self, hidden: int) -> np.ndarray:
        """Initial value of the input-projection bias b, length n_blocks * H."""
        return np.zeros(self.n_blocks * hidden)

    # -- arithmetic --------------------------------------------------------------------
    def step(self, p: dict, a: np.ndarray, state: tuple) -> tuple[tuple, Any]:
        raise NotImplementedError

    def backward_step(self, p: dict, dstate: tuple, cache: Any, grads: dict) -> tuple[np.ndarray, tuple]:
        """da_t and the state gradients of step t-1; adds every recurrent parameter's gradient
        into grads."""
        raise NotImplementedError

    # -- what probes may read ----------------------------------------------------------
    def gate_values(self, cache: Any) -> dict[str, np.ndarray]:
        """Gate activations at one step, name -> (S, B, H). Cells without gates return {}."""
        return {}

    def activation_values(self, cache: Any) -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
        """(name, bound activation, pre-activation, output) at one step, each array (S, B, H):
        what the dead-unit, saturation and mean-shift probes read."""
        return []


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
    for method in required:
        if any(getattr(obj, method) is getattr(base, method, None) for base in bases):
            raise PluginError(f"cell {name!r} ({obj.__qualname__}) does not implement {method}()")
