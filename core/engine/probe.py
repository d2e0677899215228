"""The probe contract: measure a network at a checkpoint and return tidy records.

At each checkpoint ablab runs one forward and backward pass on a fixed probe batch (its own
rng stream per member) and hands every probe the same ProbeContext. A probe returns records
{step, probe, name, layer, index, seed, value}: one number each, ready for a DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.losses import LOSSES
from ablab.core.engine.task import Batch, Task
from ablab.core.errors import PluginError

# the name of a quantity averaged over a layer's activations other than gates, so that cells
# whose activations are named differently share one chart (see plugins/probes/activity.py)
ACROSS_ACTIVATIONS = "activations but gates"


@dataclass
class WindowStats:
    """Training-step statistics since the last checkpoint (for the clipping probe)."""

    steps: int = 0
    clipped: np.ndarray | None = None  # (S,) count
    norm_sum: np.ndarray | None = None  # (S,)
    norm_max: np.ndarray | None = None  # (S,)

    def add(self, norm: np.ndarray, clipped: np.ndarray) -> None:
        if self.clipped is None:
            self.clipped = np.zeros(norm.shape)
            self.norm_sum = np.zeros(norm.shape)
            self.norm_max = np.zeros(norm.shape)
        self.steps += 1
        self.clipped += clipped
        finite = np.where(np.isfinite(norm), norm, 0.0)
        self.norm_sum += finite
        self.norm_max = np.maximum(self.norm_max, finite)


@dataclass
class ProbeContext:
    step: int
    net: Any
    params: dict
    task: Task
    seeds: list[int]
    batch: Batch  # stacked probe batch, (S, ...)
    x: np.ndarray  # encoded inputs
    window: WindowStats = field(default_factory=WindowStats)
    dtype: Any = np.float32

    @cached_property
    def forward(self):
        """(outputs, cache) of the probe batch."""
        return self.net.forward(self.params, self.x)

    @cached_property
    def loss(self) -> np.ndarray:
        y, _ = self.forward
        return LOSSES[self.task.loss](y, self.batch.y, self.batch.mask)[0]

    @cached_property
    def backward(self):
        """(grads, trace) of the probe batch's loss; trace["dh"] holds dL/dh_t per layer."""
        y, cache = self.forward
        _, dy = LOSSES[self.task.loss](y, self.batch.y, self.batch.mask)
        trace: dict = {}
        grads, _ = self.net.backward(self.params, dy, cache, None, trace, input_grad=False)
        return grads, trace

    def record(self, probe: str, name: str, values: np.ndarray, layer: int = -1, index: int = -1) -> list[dict]:
        """One record per ensemble member from a (S,) array."""
        values = np.asarray(values, dtype=np.float64).reshape(len(self.seeds))
        return [
            {
                "step": self.step,
                "probe": probe,
                "name": name,
                "layer": int(layer),
                "index": int(index),
                "seed": seed,
                "value": float(v),
            }
            for seed, v in zip(self.seeds, values)
        ]


class Probe:
    """Base class: set `name`, `summary`; implement measure(ctx); narrow applies()."""

    name: str = ""
    summary: str = ""

    def applies(self, net, task: Task) -> bool:
        """Whether the probe runs for this net and task (default: always)."""
        return True

    def measure(self, ctx: ProbeContext) -> list[dict]:
        """Records made with ctx.record(...) at one checkpoint."""
        raise NotImplementedError


def is_recurrent(net) -> bool:
    """Whether the net steps through time with cells (declared by each Net kind)."""
    return net.recurrent


def probe_rng(seed: int) -> np.random.Generator:
    return streams.rng(seed, streams.PROBE)


def validate_plugin(name: str, obj: Any) -> None:
    if not isinstance(obj, Probe):
        raise PluginError(f"probe {name!r} must be an instance of ablab.core.engine.probe.Probe, got {obj!r}")
    if type(obj).measure is Probe.measure:
        raise PluginError(f"probe {name!r} does not implement measure()")
    if obj.name != name:
        raise PluginError(f"probe registered as {name!r} calls itself {obj.name!r}; use one name")
