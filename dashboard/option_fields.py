"""Form fields for a plugin's own options, built from its `defaults` table: a checkbox for a
flag, a number field for a number, a choice of registered activations for an activation name,
a text field for any other name. The Run form uses them for a task's options and for each
picked cell's options, so a plugin author's new option is in the form with no dashboard code."""

from __future__ import annotations

from typing import Any


def option_value(col, label: str, default: Any, key: str, activations: list[str]) -> Any:
    """One field; its value has the default's type (the plugin checks the range when the study
    is parsed, so its own message names the option)."""
    if isinstance(default, bool):
        return col.checkbox(label, value=default, key=key)
    if isinstance(default, int):
        return int(col.number_input(label, value=default, step=1, key=key))
    if isinstance(default, float):
        return float(col.number_input(label, value=default, key=key, format="%g"))
    if isinstance(default, str) and default in activations:
        return col.selectbox(label, activations, index=activations.index(default), key=key)
    return col.text_input(label, value=str(default), key=key).strip()


def option_fields(st, defaults: dict, key_prefix: str, activations: list[str], per_row: int = 4) -> dict:
    """Every option as a field, per_row to a row; returns only the values changed from the
    defaults, so an untouched form writes no options and its study file stays short."""
    changed: dict = {}
    items = list(defaults.items())
    for start in range(0, len(items), per_row):
        cols = st.columns(per_row)
        for col, (name, default) in zip(cols, items[start : start + per_row]):
            value = option_value(col, name, default, f"{key_prefix}{name}", activations)
            if value != default:
                changed[name] = value
    return changed
