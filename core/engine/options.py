"""Plugin options, checked by one rule everywhere (cells, tasks, embeddings, activations,
initialisers): a default's type is the option's type. And the one parser of "a name, or a
table with a name and options" (activations, initialisers, embeddings in a study)."""

from __future__ import annotations

import math
from typing import Any

from ablab.core.errors import ConfigError, did_you_mean


def check_options(what: str, defaults: dict[str, Any], options: dict[str, Any], *, min_whole: int = 0) -> dict:
    """defaults updated with options, each checked against its default's type: bool, a whole
    number >= min_whole, a finite number (stored as float), or a name (a string, or a table with a
    name). `what` names the owner in errors, e.g. "cell 'lstm'"."""
    merged = dict(defaults)
    for key, value in options.items():
        if key not in defaults:
            allowed = ", ".join(f"{k} (default {v!r})" for k, v in defaults.items()) or "none"
            raise ConfigError(f"{what} has no option {key!r}{did_you_mean(key, defaults)}; options: {allowed}")
        merged[key] = _checked(what, key, defaults[key], value, min_whole)
    return merged


def _checked(what: str, key: str, default: Any, value: Any, min_whole: int) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{what} option {key!r} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < min_whole:
            raise ConfigError(f"{what} option {key!r} must be a whole number >= {min_whole}, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{what} option {key!r} must be a finite number, got {value!r}")
        return float(value)
    elif isinstance(default, str):
        if not isinstance(value, (str, dict)):
            raise ConfigError(f"{what} option {key!r} must be a name or a table with 'name', got {value!r}")
    return value


def name_and_options(spec: Any, where: str) -> tuple[str, dict[str, Any]]:
    """'tanh' -> ('tanh', {}); {name = 'leaky_relu', alpha = 0.1} -> ('leaky_relu', {'alpha': 0.1})."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        return spec["name"], {k: v for k, v in spec.items() if k != "name"}
    raise ConfigError(f"{where} must be a name or a table with a 'name' key, got {spec!r}")
