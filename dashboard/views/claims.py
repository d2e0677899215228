"""Claims: every study with checks (the built-in claims and any stored study) with its verdict,
each check's effect, interval and n, and an evidence chart."""

import streamlit as st

from ablab.core.lab.study import load_study
from ablab.core.lab.verdicts import quantity_values, verdict, verdict_frame
from ablab.core.plugin_system.registry import default_registry
from ablab.dashboard import charts, launcher
from ablab.dashboard.common import get_store
from ablab.dashboard.data import band, config_labels

st.title("Claims")
st.caption(
    "Each study with checks states a claim and the checks that decide it: the built-in claims and any study "
    "you ran with [[checks]]. A check holds when its whole interval clears the threshold, does not hold when it "
    "lies wholly on the other side, and is inconclusive otherwise (more seeds may settle it); intervals are "
    "widened by Holm's correction over a study's checks."
)
store = get_store()
registry = default_registry()
from ablab.studies import builtin_study_paths  # noqa: E402

builtins = [(load_study(path, registry), path) for path in builtin_study_paths()]
names = {study.name for study, _ in builtins}
entries = [(s.name, s.claim, s.description, s.checks, s.solve, path) for s, path in builtins]
for stored in store.studies():
    spec = store.study_spec(stored["name"]) if stored["name"] not in names else None
    if spec and spec.get("checks"):
        meta = spec.get("study", {})
        entries.append(
            (
                stored["name"],
                meta.get("claim") or stored["name"],
                meta.get("description", ""),
                spec["checks"],
                meta.get("solve"),
                None,
            )
        )

for name, claim, description, checks, solve, path in entries:
    frame = verdict_frame(store, name, solve, registry)
    v = verdict(name, claim, checks, frame) if not frame.empty else None
    label = "not run yet" if v is None else v.label
    icon = {"holds": ":material/check_circle:", "does not hold": ":material/cancel:"}.get(label, ":material/help:")
    with st.expander(f"{claim}  —  **{label}**", icon=icon, expanded=st.query_params.get("claim") == name):
        st.write(description or f"Study {name}, from the store.")
        if path is not None:
            running = launcher.running(name)
            if st.button(
                "Rerun this claim" if v is not None else "Run this claim",
                key=f"run_{name}",
                disabled=running is not None,
            ):
                pid, _ = launcher.launch(name, path, store.url)
                st.query_params["claim"] = name
                st.info(f"Running {name} in the background (pid {pid}); reopen this page to see the verdict.")
            if running is not None:
                st.caption(f"running (pid {running})")
        if v is None:
            continue
        st.table([{"check": c.what, "verdict": c.label, "effect [interval], n": c.text} for c in v.checks])
        first = checks[0]
        values = frame.assign(config=config_labels(frame), value=quantity_values(frame, first["quantity"]))
        evidence = band(values.assign(x=0), "x")
        st.altair_chart(charts.bar_chart(evidence, value_title=first["quantity"], title=first["what"]), width="stretch")
        st.page_link("views/results.py", label="All results of this study", query_params={"study": name})
