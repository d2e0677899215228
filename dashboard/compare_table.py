"""Compare's table: the configurations of several studies in one table, their axes lined up.

Two things make rows of different studies hard to match: an axis that varies two paths
together ("model.cell+model.cell_options") is one column in its study while another study
varies "model.cell" alone, and a study that does not vary an axis at all has no value for it.
So zipped axes are split into their paths, and a path a study does not vary shows the value its
base configuration keeps, marked as such ("lstm (base)"), or a dash where the base leaves it to
the default.
"""

from __future__ import annotations

import json

import pandas as pd

from ablab.core.lab.results import label
from ablab.core.lab.study import get_path

NOT_SET = "—"  # the study neither varies nor sets this path: the code's default applies
BASE = " (base)"


def split_axes(summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """A study's config_summary with every zipped axis column replaced by one column per path
    (values read from the `point` column, not from the joined label). Returns it with the
    axis columns in order."""
    axes = list(summary.columns[: list(summary.columns).index("runs")])
    points = [json.loads(p) for p in summary["point"]]
    out = summary.drop(columns=axes)
    columns: list[str] = []
    for axis in axes:
        paths = axis.split("+")
        for i, path in enumerate(paths):
            values = [p.get(axis) for p in points]
            if len(paths) > 1:
                values = [v[i] if isinstance(v, list) and len(v) == len(paths) else None for v in values]
            out[path] = [label(v) if v is not None else None for v in values]
            columns.append(path)
    return out[columns + [c for c in out.columns if c not in columns]], columns


def fill_unvaried(table: pd.DataFrame, axes: list[str], studies: dict[str, dict | None]) -> pd.DataFrame:
    """Each study's rows get, for a path that study does not vary, its base value marked
    "(base)" (or NOT_SET); studies: name -> its stored definition (Store.study_spec)."""
    table = table.copy()
    table[axes] = table[axes].astype(object)
    for name, spec in studies.items():
        rows = table["study"] == name
        base = (spec or {}).get("base", {})
        for path in axes:
            missing = rows & table[path].isna()
            if missing.any():
                value = get_path(base, path)
                table.loc[missing, path] = NOT_SET if value is None else f"{label(value)}{BASE}"
    return table


def caption(table: pd.DataFrame, axes: list[str]) -> str | None:
    cells = table[axes].astype(str)
    notes = []
    if cells.apply(lambda c: c.str.endswith(BASE)).any(axis=None):
        notes.append("(base): not an axis of that study; the value its base configuration keeps")
    if (cells == NOT_SET).any(axis=None):
        notes.append(f"{NOT_SET}: neither varied nor set by that study (the code's default)")
    return "; ".join(notes) + "." if notes else None
