"""The view's state in the link: every choice a page offers reads its start value from the URL
and writes it back, so a pasted link reopens the same view. A value equal to its default is left
out of the URL, which keeps links short."""

from __future__ import annotations

import streamlit as st


def url_values(key: str, allowed: list[str]) -> list[str] | None:
    """The allowed values ?key= holds, or None when the link does not set it."""
    if key not in st.query_params:
        return None
    return [v for v in st.query_params.get_all(key) if v in allowed]


def url_value(key: str, allowed: list[str], default: str) -> str:
    value = st.query_params.get(key)
    return value if value in allowed else default


def url_int(key: str, low: int, high: int, default: int) -> int:
    try:
        value = int(st.query_params.get(key, default))
    except ValueError:
        return default
    return min(max(value, low), high)


def keep(key: str, value, default) -> None:
    """Write one choice into the link, or take it out when it is the default."""
    if value == default or value is None:
        st.query_params.pop(key, None)
    elif isinstance(value, list):
        st.query_params[key] = [str(v) for v in value]
    else:
        st.query_params[key] = str(value)
