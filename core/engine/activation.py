"""Activation functions: a value and its exact derivative, with optional parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ablab.core.engine.options import check_options, name_and_options
from ablab.core.errors import PluginError


@dataclass(frozen=True)
class Activation:
    """f(x) and f'(x). `deriv(x, y)` receives the input x and the output y = f(x), because
    several derivatives are cheapest from y (tanh' = 1 - y^2). Probes read `deriv` to find
    dead units (f' = 0) and saturation (f' near 0)."""

    name: str
    fn: Callable[..., np.ndarray]
    deriv: Callable[..., np.ndarray]
    summary: str = ""
    defaults: dict[str, float] = field(default_factory=dict)
    bounded: bool = False  # output confined to an interval (a valid gate needs [0, 1])
    # True when deriv reads only y (tanh' = 1 - y^2): deriv(None, y) then works, and cells may
    # drop the pre-activation from their caches and call output_deriv(y) (less memory traffic).
    deriv_from_output: bool = False

    def bind(self, options: dict[str, Any] | None = None) -> BoundActivation:
        numbers = {k: float(v) for k, v in self.defaults.items()}  # every activation option is a number
        return BoundActivation(self, check_options(f"activation {self.name!r}", numbers, options or {}))


@dataclass(frozen=True)
class BoundActivation:
    """An activation with its options fixed: call it, or ask for its derivative."""

    activation: Activation
    options: dict[str, float]

    @property
    def name(self) -> str:
        return self.activation.name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.activation.fn(x, **self.options)

    def deriv(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.activation.deriv(x, y, **self.options)

    def output_deriv(self, y: np.ndarray) -> np.ndarray:
        """f' from the output alone; only for activations with deriv_from_output."""
        if not self.activation.deriv_from_output:
            raise ValueError(f"activation {self.name!r} needs its input for f'; keep the pre-activation")
        return self.activation.deriv(None, y, **self.options)

    @property
    def deriv_from_output(self) -> bool:
        return self.activation.deriv_from_output


def resolve(registry, spec: str | dict) -> BoundActivation:
    """'tanh' or {name = 'leaky_relu', alpha = 0.1} -> a bound activation."""
    name, options = name_and_options(spec, "an activation")
    return registry.get("activation", name).bind(options)


def validate_plugin(name: str, obj: Any) -> None:
    if not isinstance(obj, Activation):
        raise PluginError(
            f"activation {name!r} must be an ablab.core.engine.activation.Activation, got {type(obj).__name__}"
        )
    if obj.name != name:
        raise PluginError(f"activation registered as {name!r} calls itself {obj.name!r}; use one name")
