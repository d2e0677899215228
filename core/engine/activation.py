"""Activation functions: a value and its exact derivative, with optional parameters."""

from __future__ import annotations

import functools
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
        """Fix the options (unknown keys are a ConfigError naming the allowed ones)."""
        numbers = {k: float(v) for k, v in self.defaults.items()}  # every activation option is a number
        return BoundActivation(self, check_options(f"activation {self.name!r}", numbers, options or {}))


@dataclass(frozen=True)
class BoundActivation:
    """An activation with its options fixed: call it, or ask for its derivative. The attributes
    `fn(x)` and `deriv(x, y)` (f'(x), given y = f(x) too) are the activation's functions with
    the options bound."""

    activation: Activation
    options: dict[str, float]
    # Attributes, not methods: a cell's time loop calls them with no method frame or **options
    # in between (at small sizes those calls cost as much as the arithmetic).
    fn: Callable[[np.ndarray], np.ndarray] = field(init=False, repr=False, compare=False)
    deriv: Callable[[np.ndarray | None, np.ndarray], np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        act, opts = self.activation, self.options
        object.__setattr__(self, "fn", functools.partial(act.fn, **opts) if opts else act.fn)
        object.__setattr__(self, "deriv", functools.partial(act.deriv, **opts) if opts else act.deriv)

    @property
    def name(self) -> str:
        """The registered name."""
        return self.activation.name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x)

    def output_deriv(self, y: np.ndarray) -> np.ndarray:
        """f' from the output alone; only for activations with deriv_from_output."""
        if not self.activation.deriv_from_output:
            raise ValueError(f"activation {self.name!r} needs its input for f'; keep the pre-activation")
        return self.deriv(None, y)

    @property
    def deriv_from_output(self) -> bool:
        """Whether deriv reads y alone, so caches may drop the pre-activation."""
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
