"""The Claims page's new seeds: which seeds a verdict rests on, "Run with new seeds" (the study
with every seed shifted by 1000, stored as NAME-s1000, launched like "Rerun this claim"), and
once stored, its verdict beside the original's with the stability line (as `ablab claims
--new-seeds` prints it)."""

from __future__ import annotations

import streamlit as st

from ablab.core.lab.seed_shift import DEFAULT_SHIFT, seeds_text, shifted_name, shifted_text, stability_line
from ablab.core.lab.verdicts import verdict, verdict_frame
from ablab.dashboard import launcher


def shifted_names(names: list[str]) -> set[str]:
    """The names the page's new-seed studies take: listed under their claim, not on their own."""
    return {shifted_name(n, DEFAULT_SHIFT) for n in names}


def section(store, registry, name: str, claim: str, checks: list, solve, data: dict | None, v, watched: list) -> None:
    """Inside a claim's expander: the seeds of its verdict, the new-seeds button and comparison.
    v: the claim's verdict (None: not run yet); data: its study's TOML (None: no button)."""
    if v is None:
        return
    st.caption(f"This verdict rests on the runs of seeds {seeds_text(v.seeds)} ({len(v.seeds)} seeds).")
    other = shifted_name(name, DEFAULT_SHIFT)
    frame = verdict_frame(store, other, solve, registry, checks=checks)
    running = launcher.running(store.url, other)
    if data is not None and st.button(
        "Run with new seeds",
        key=f"new_seeds_{name}",
        disabled=running is not None,
        help=f"Runs this study again with every seed shifted by {DEFAULT_SHIFT}, stored as study {other} "
        f"(`ablab claims --study {name} --new-seeds`): does the verdict survive other seeds?",
    ):
        path = launcher.write_study(store.url, other, shifted_text(data, DEFAULT_SHIFT))
        launcher.launch(store.url, other, path)
        st.query_params["claim"] = name
        st.rerun()  # redraw with the button disabled; the page's watcher refreshes when it ends
    if running is not None:
        watched.append(other)
        st.caption(f"running with new seeds as study {other} (pid {running}); this page refreshes when it finishes")
    if frame.empty:
        return
    new = verdict(other, claim, checks, frame)
    pairs = [(c.label, d.label) for c, d in zip(v.checks, new.checks)]
    st.markdown(f"**New seeds** ({other}): {stability_line(v.label, v.seeds, new.label, new.seeds, pairs)}")
    a, b = f"seeds {seeds_text(v.seeds)}", f"seeds {seeds_text(new.seeds)}"
    st.table(
        [
            {"check": c.what, a: c.label, b: d.label, f"{b}: effect [interval], n": d.text}
            for c, d in zip(v.checks, new.checks)
        ]
    )
