"""Checks for the Run form's fields: each bad value gets one sentence naming the field, the value
and what is allowed. Pure functions, so every message is tested without a browser."""

from __future__ import annotations

import math

# Above this a learning rate is allowed but flagged: such runs explode, and the engine counts
# them as diverged (loss past 1e6 x the baseline), which is what a user trying it wants to see.
LR_WARN = 10.0


def whole(label: str, value, low: int, high: int) -> str | None:
    """None when value is a whole number in [low, high], else the message."""
    if value is None or isinstance(value, bool) or float(value) != int(value):
        return f"{label} must be a whole number from {low} to {high}, got {value!r}"
    if not low <= int(value) <= high:
        return f"{label} must be from {low} to {high}, got {int(value)}"
    return None


def numbers(label: str, text: str, *, low: float = 0.0, high: float = math.inf) -> tuple[list[float], str | None]:
    """Comma-separated positive numbers: ([values], None) or ([], the message). Each value must
    be > low and <= high; more than one value makes the field an axis."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        return [], f"{label}: give at least one number, e.g. 0.01 or 0.01, 0.1"
    values = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            return [], f"{label}: {p!r} is not a number (write them like 0.01, 0.1)"
        if not math.isfinite(v) or v <= low or v > high:
            bound = f"a finite number above {low:g}" + ("" if math.isinf(high) else f" and at most {high:g}")
            return [], f"{label} must be {bound}, got {p[:40]}"
        values.append(v)
    if len(set(values)) != len(values):
        return [], f"{label}: {text.strip()!r} lists a value twice"
    return values, None


def lr_warning(rates: list[float]) -> str | None:
    high = [r for r in rates if r > LR_WARN]
    if not high:
        return None
    return (
        f"learning rate {', '.join(f'{r:g}' for r in high)} is far above any usual rate (1e-5 to {LR_WARN:g}): "
        "these runs will explode, and are counted as diverged."
    )


def suggest_name(name: str, taken: set[str]) -> str:
    """name-2, name-3, ...: the first that is free (and still a valid slug length)."""
    stem = name[:56]
    i = 2
    while f"{stem}-{i}" in taken:
        i += 1
    return f"{stem}-{i}"
