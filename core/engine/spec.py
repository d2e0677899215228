"""Small helpers for typed, frozen configuration: reject unknown keys, check ranges."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

from ablab.core.errors import ConfigError, did_you_mean


def from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    """Build dataclass `cls` from a mapping; unknown keys name the allowed ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], fields)}; "
            f"allowed keys: {', '.join(sorted(fields))}"
        )
    check_types(cls, data, where)
    try:
        return cls(**data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


_PLAIN = {bool: "true or false", int: "a whole number", float: "a number", str: "text", dict: "a table"}


@functools.cache
def _field_types(cls: type) -> dict[str, tuple[type, ...] | None]:
    """Per field, the plain types its annotation allows (None: anything, e.g. Any)."""
    out: dict[str, tuple[type, ...] | None] = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = (
            typing.get_args(hint)
            if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
            else (hint,)
        )
        plain = tuple(typing.get_origin(a) or a for a in args)
        out[name] = plain if all(a in _PLAIN or a is type(None) for a in plain) else None
    return out


def check_types(cls: type, data: dict[str, Any], where: str) -> None:
    """Refuse a value of the wrong type (nesterov = "yes", cell_options = 5) before the
    dataclass silently keeps it: TOML's types map onto the annotations one to one."""
    for key, value in data.items():
        allowed = _field_types(cls).get(key)
        if allowed is None or (value is None and type(None) in allowed):
            continue
        ok = any(
            isinstance(value, t) and not (isinstance(value, bool) and t is not bool)
            for t in allowed
            if t is not type(None)
        ) or (float in allowed and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            want = " or ".join(_PLAIN[t] for t in allowed if t in _PLAIN)
            hint = TABLE_HINTS.get(key, "") if isinstance(value, dict) else ""
            raise ConfigError(f"{where}.{key} must be {want}, got {str(value)[:40]!r}{hint}")


# A table where a name belongs: the user meant to give the plugin's options with it.
TABLE_HINTS = {
    "cell": '; put the options in model.cell_options, or vary both: "model.cell+model.cell_options" (docs/studies.md)',
}


def positive_int(value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a whole number >= 1, got {value!r}")


def positive(value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{key} must be a number > 0, got {value!r}")


def in_range(value: Any, key: str, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ConfigError(f"{key} must be a number in [{lo}, {hi}], got {value!r}")


def one_of(value: Any, key: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{key} must be one of {', '.join(map(repr, allowed))}, got {value!r}{did_you_mean(value, allowed)}"
        )
