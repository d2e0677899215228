"""The Claims page's new seeds: which seeds a verdict rests on, "Run with new seeds" (the study
with every seed shifted by 1000, stored as NAME-s1000, launched like "Rerun this claim"), and
the verdict of every stored run with new seeds, whatever its shift, beside the original's with
the stability line (as `ablab claims --new-seeds` prints it)."""

from __future__ import annotations

import streamlit as st

from ablab.core.lab.seed_shift import DEFAULT_SHIFT, seeds_text, shifted_name, shifted_text, stability_line
from ablab.core.lab.verdicts import verdict, verdict_frame
from ablab.dashboard import launcher


def section(store, registry, c, stored: list[tuple[int, str]], v, watched: list) -> None:
    """Inside a run claim's expander, under its checks: the seeds of its verdict, the new-seeds
    button, and each stored run with new seeds (any shift, `ablab claims --new-seeds SHIFT`)
    beside the verdict. c: the claim (claim_list.Claim); v: its verdict."""
    st.caption(f"This verdict rests on the runs of seeds {seeds_text(v.seeds)} ({len(v.seeds)} seeds).")
    other = shifted_name(c.name, DEFAULT_SHIFT)
    running = launcher.running(store.url, other)
    if st.button(
        "Run with new seeds",
        key=f"new_seeds_{c.name}",
        disabled=running is not None,
        help=f"Runs this study again with every seed shifted by {DEFAULT_SHIFT}, stored as study {other} "
        f"(`ablab claims --study {c.name} --new-seeds`): does the verdict survive other seeds?",
    ):
        path = launcher.write_study(store.url, other, shifted_text(c.data, DEFAULT_SHIFT))
        launcher.launch(store.url, other, path)
        st.query_params["claim"] = c.name
        st.rerun()  # redraw with the button disabled; the page's watcher refreshes when it ends
    if running is not None:
        watched.append(other)
        st.caption(f"running with new seeds as study {other} (pid {running}); this page refreshes when it finishes")
    for _, name in stored:
        frame = verdict_frame(store, name, c.solve, registry, checks=c.checks)
        if not frame.empty:
            _compare(v, verdict(name, c.claim, c.checks, frame, c.looks))


def _compare(v, new) -> None:
    pairs = [(a.label, b.label) for a, b in zip(v.checks, new.checks)]
    st.markdown(f"**New seeds** ({new.study}): {stability_line(v.label, v.seeds, new.label, new.seeds, pairs)}")
    a, b = f"seeds {seeds_text(v.seeds)}", f"seeds {seeds_text(new.seeds)}"
    st.table(
        [
            {"check": c.what, a: c.label, b: d.label, f"{b}: effect [interval], n": d.text}
            for c, d in zip(v.checks, new.checks)
        ]
    )
