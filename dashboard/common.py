"""Shared dashboard helpers: the store, cached loading keyed by the store's state, the study
picker bound to the URL. Every page imports these; no page defines its own."""

from __future__ import annotations

import streamlit as st

from ablab.core.lab.store import Store, StoreError, default_store_url
from ablab.dashboard.viewstate import link_get, new_view


def store_url() -> str:
    return default_store_url()


@st.cache_resource(show_spinner=False)
def _open(url: str) -> Store:
    return Store(url)


def get_store() -> Store:
    """The store, or a clear message and a stopped page when it cannot be opened."""
    url = store_url()
    try:
        return _open(url)
    except StoreError as exc:
        st.error(f"{exc}\n\nSet ABLAB_STORE or pass `ablab dashboard --store URL` with a store that can be opened.")
        st.stop()


@st.cache_data(show_spinner="Loading runs...", max_entries=32)
def _run_frame(url: str, study: str, token: tuple, columns: tuple[str, ...] | None):
    from ablab.core.lab.results import run_frame

    return run_frame(_open(url), study, None if columns is None else list(columns))


@st.cache_data(show_spinner=False, max_entries=1024)
def memo(key: tuple, _compute):
    """_compute() once per key (a tuple naming everything the result depends on; the function
    itself is not hashed): the Results page's tables, curves and chart specs."""
    return _compute()


def runs_table(store: Store, study: str, columns: list[str] | None = None):
    """One row per run of a study (results.run_frame; only the named summary columns when
    given), cached per store state: new results change the token and reload."""
    return _run_frame(store.url, study, store.state_token(), None if columns is None else tuple(columns))


def study_picker(store: Store, label: str = "Study") -> str | None:
    """A selectbox of stored studies, in sync with ?study= in the URL."""
    names = store.study_names()  # a picker needs no run counts (a GROUP BY over every run)
    if not names:
        empty_store()
        return None
    wanted = link_get("study")
    if wanted is not None and wanted not in names:
        shown = wanted if len(wanted) <= 64 else wanted[:40] + "..."  # a study name has at most 64 characters
        st.warning(f"Study {shown!r} is not in this store (it may have been removed); pick another.")
        wanted = None
    index = names.index(wanted) if wanted in names else 0
    choice = st.selectbox(label, names, index=index, key="study_picker", on_change=_new_study)
    if st.query_params.get("study") != choice:
        st.query_params["study"] = choice
    return choice


def _new_study() -> None:
    """Another study was picked: it opens at its own default view. The page's other choices
    (filters, colours, columns, highlight, configuration, run) name the old study's axes and
    values; kept, a filter would hide the new study's configurations that the old one lacked."""
    new_view(study=st.session_state["study_picker"])


def empty_store() -> None:
    st.info(
        "This store has no results yet. Open **Claims** and run a claim study (the quickest is "
        "`bptt_exact`), build one on **Run**, or run `ablab claims` in a terminal."
    )


def csv_download(frame, name: str, key: str) -> None:
    """A CSV of frame, made when the button is clicked: made on every run, a chart's 3,000-row
    CSV cost 0.15 s of each view at 100,000 runs."""
    st.download_button(
        "Download CSV",
        lambda: frame.to_csv(index=False).encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
    )
