"""Claims: each built-in claim with its verdict, the numbers and an evidence chart."""

import streamlit as st

from ablab.core.lab.claims import quantity_values, verdict
from ablab.core.lab.results import run_frame
from ablab.core.lab.study import load_study
from ablab.core.plugin_system.registry import default_registry
from ablab.dashboard import charts, launcher
from ablab.dashboard.common import get_store
from ablab.dashboard.data import band, config_labels

st.title("Claims")
st.caption(
    "Each built-in study states a classic claim and the checks that decide it. "
    "The verdict is computed from the stored runs."
)
store = get_store()
registry = default_registry()
from ablab.studies import builtin_study_paths  # noqa: E402

for path in builtin_study_paths():
    study = load_study(path, registry)
    frame = run_frame(store, study.name)
    v = verdict(study.name, study.claim, study.checks, frame) if not frame.empty else None
    label = "not run yet" if v is None else v.label
    icon = {"holds": ":material/check_circle:", "does not hold": ":material/cancel:"}.get(label, ":material/help:")
    with st.expander(f"{study.claim}  —  **{label}**", icon=icon, expanded=st.query_params.get("claim") == study.name):
        st.write(study.description)
        running = launcher.running(study.name)
        if st.button(
            "Rerun this claim" if v is not None else "Run this claim",
            key=f"run_{study.name}",
            disabled=running is not None,
        ):
            pid, _ = launcher.launch(study.name, path, store.url)
            st.query_params["claim"] = study.name
            st.info(f"Running {study.name} in the background (pid {pid}); reopen this page to see the verdict.")
        if running is not None:
            st.caption(f"running (pid {running})")
        if v is None:
            continue
        st.table(
            [
                {
                    "check": c.what,
                    "result": {True: "holds", False: "fails", None: "not measured"}[c.holds],
                    "numbers": c.text,
                }
                for c in v.checks
            ]
        )
        first = study.checks[0]
        values = frame.assign(config=config_labels(frame), value=quantity_values(frame, first["quantity"]))
        evidence = band(values.assign(x=0), "x")
        st.altair_chart(charts.bar_chart(evidence, value_title=first["quantity"], title=first["what"]), width="stretch")
        st.page_link("views/results.py", label="All results of this study", query_params={"study": study.name})
