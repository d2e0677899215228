"""Claims: each built-in claim with its verdict, the numbers and an evidence chart."""

import streamlit as st

from ablab.core.lab.claims import verdict
from ablab.core.lab.results import run_frame
from ablab.core.lab.study import load_study
from ablab.core.plugin_system.registry import default_registry
from ablab.dashboard import charts, launcher
from ablab.dashboard.common import get_store
from ablab.dashboard.data import band_caption, evidence_rows

st.title("Claims")
st.caption(
    "Each built-in study states a classic claim and the checks that decide it. "
    "The verdict is computed from the stored runs."
)
store = get_store()
registry = default_registry()
from ablab.studies import builtin_study_paths  # noqa: E402

watched: list[str] = []  # claims running now
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
            launcher.launch(study.name, path, store.url)
            st.query_params["claim"] = study.name
            st.rerun()  # redraw with the button disabled; the watcher below refreshes when it ends
        if running is not None:
            watched.append(study.name)
            st.caption(f"running (pid {running}); this page refreshes when it finishes")
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
        evidence = evidence_rows(frame, first["quantity"])
        if len(evidence):
            chart = charts.bar_chart(evidence, value_title=first["quantity"], title=first["what"])
            st.altair_chart(chart, width="content")
            st.caption("One row per configuration; dots: the mean over seeds. " + band_caption(evidence, noun="Bars"))
        st.page_link("views/results.py", label="All results of this study", query_params={"study": study.name})


@st.fragment(run_every=3)
def watch(names: list[str]) -> None:
    """Rerun the page when a claim started here finishes, so its verdict shows without a reload."""
    if any(launcher.running(n) is None for n in names):
        st.rerun()


if watched:
    watch(watched)
