"""The view's state in the link: every choice a page offers reads its start value from the URL
and writes it back, so a pasted link reopens the same view. A value equal to its default is left
out of the URL, which keeps links short.

Picking another study starts a new view (common.study_picker): the link keeps only the study, and
every widget key made with wkey() is new. A new key is what makes it a new widget in the browser:
the browser keeps each widget's last value under its key and sends it with the next change, so a
filter, colour or column choice made on the old study came back one widget change later, and the
link lagged one change behind what the page had just shown.

Every read of the link goes through this module, which notes the keys the page asked for; once
the page has been drawn to its end, app.py calls drop_unknown() and any other key (a typo, a key
of another page, an old version's key) is named and taken out, as a bad value is."""

from __future__ import annotations

import streamlit as st

READ = "_link_keys_read"  # session state: the link keys this run of the page asked for


def _quoted(texts: list[str]) -> str:
    """Link keys or values as a message shows them: quoted, each cut at 40 characters."""
    return ", ".join(repr(t if len(t) <= 40 else t[:40] + "...") for t in texts)


def begin_page() -> None:
    st.session_state[READ] = set()


def _asked(key: str) -> None:
    st.session_state.setdefault(READ, set()).add(key)


def link_get(key: str) -> str | None:
    """?key='s value, or None; the key counts as one this page uses. A key that holds one value
    but is given twice keeps the last, and the page says so."""
    _asked(key)
    given = st.query_params.get_all(key)
    if len(given) > 1:
        shown = _quoted(given[:3])
        st.warning(f"The link gives {key[:60]} {len(given)} times ({shown}); it holds one, so the last is used.")
        st.query_params[key] = given[-1]
    return given[-1] if given else None


def link_get_all(key: str) -> list[str]:
    _asked(key)
    return st.query_params.get_all(key)


def drop_unknown() -> None:
    """After a page ran to its end: name and remove the link's keys it never asked for."""
    asked = st.session_state.get(READ, set())
    unknown = [k for k in st.query_params if k not in asked]
    if not unknown:
        return
    shown = _quoted(unknown[:5])
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    st.warning(f"The link's {shown}{more} {'is' if len(unknown) == 1 else 'are'} not used by this page, so left out.")
    for k in unknown:
        st.query_params.pop(k, None)


def url_values(key: str, allowed: list[str]) -> list[str] | None:
    """The allowed values ?key= holds, or None when the link does not set it."""
    _asked(key)
    if key not in st.query_params:
        return None
    given = st.query_params.get_all(key)
    kept = list(dict.fromkeys(v for v in given if v in allowed))  # a value given twice counts once
    if any(v not in allowed for v in given):
        _left_out(key, [v for v in given if v not in allowed], allowed, kept)
    elif len(kept) < len(given):
        st.query_params[key] = kept
    return kept


def url_value(key: str, allowed: list[str], default: str) -> str:
    value = link_get(key)
    if value is None or value in allowed:
        return default if value is None else value
    _left_out(key, [value], allowed, [])
    return default


def url_int(key: str, low: int, high: int, default: int) -> int:
    text = link_get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        _left_out(key, [text], [f"a whole number from {low} to {high}"], [])
        return default
    return value


def _left_out(key: str, bad: list[str], allowed: list[str], kept: list[str]) -> None:
    """Say which values of a link were not used (a mistyped or stale link must not silently show
    another view), and take them out of the address bar so a re-shared link is clean."""
    shown = _quoted(bad[:3])
    choices = ", ".join(allowed[:8]) + (", ..." if len(allowed) > 8 else "")
    st.warning(f"The link's {key[:60]}={shown} is not a choice here, so it was left out (choices: {choices}).")
    if kept:
        st.query_params[key] = kept
    else:
        st.query_params.pop(key, None)


GENERATION = "_view_generation"  # session state: how many times this session picked another study


def wkey(name: str) -> str:
    """The widget key `name` for the view on show: unchanged until another study is picked."""
    generation = st.session_state.get(GENERATION, 0)
    return name if generation == 0 else f"{name}~{generation}"


def new_view(**kept: str) -> None:
    """Start a new view: the link holds only `kept`, and wkey() makes new widget keys."""
    for key in kept:
        _asked(key)
    st.query_params.from_dict(kept)
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1


def keep(key: str, value, default) -> None:
    """Write one choice into the link, or take it out when it is the default."""
    _asked(key)
    if value == default or value is None:
        st.query_params.pop(key, None)
    elif isinstance(value, list):
        st.query_params[key] = [str(v) for v in value]
    else:
        st.query_params[key] = str(value)
