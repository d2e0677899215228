"""Weight initialisers, and the helper that draws a gate-blocked matrix per ensemble member."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ablab.core.engine.options import check_options
from ablab.core.errors import ConfigError, PluginError


@dataclass(frozen=True)
class Initializer:
    """fn(rng, fan_in, fan_out, **options) -> float64 array of shape (fan_in, fan_out)."""

    name: str
    fn: Callable[..., np.ndarray]
    summary: str = ""
    defaults: dict[str, float] = field(default_factory=dict)

    def check_options(self, options: dict[str, Any]) -> dict[str, float]:
        numbers = {k: float(v) for k, v in self.defaults.items()}  # every initialiser option is a number
        return check_options(f"initializer {self.name!r}", numbers, options)


def spectral_radius(matrix: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def draw(
    init: Initializer,
    options: dict[str, float],
    rng: np.random.Generator,
    fan_in: int,
    fan_out: int,
    blocks: int = 1,
    radius: float | None = None,
) -> np.ndarray:
    """A (fan_in, blocks*fan_out) matrix, each gate block drawn on its own (so an orthogonal
    recurrent init is orthogonal per gate) and optionally rescaled to a spectral radius."""
    parts = []
    for _ in range(blocks):
        w = np.asarray(init.fn(rng, fan_in, fan_out, **options), dtype=np.float64)
        assert w.shape == (fan_in, fan_out), (init.name, w.shape)
        if radius is not None:
            if fan_in != fan_out:
                raise ConfigError("spectral_radius applies to square recurrent matrices only")
            current = spectral_radius(w)
            if current == 0:
                raise ConfigError(
                    f"initializer {init.name!r} drew a zero matrix; it cannot be rescaled to spectral_radius {radius}"
                )
            w = w * (radius / current)
        parts.append(w)
    return np.concatenate(parts, axis=1)


def validate_plugin(name: str, obj: Any) -> None:
    if not isinstance(obj, Initializer):
        raise PluginError(
            f"initializer {name!r} must be an ablab.core.engine.initializer.Initializer, got {type(obj).__name__}"
        )
    if obj.name != name:
        raise PluginError(f"initializer registered as {name!r} calls itself {obj.name!r}; use one name")
