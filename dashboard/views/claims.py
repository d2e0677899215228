"""Claims: every study with checks (the built-in claims and any stored study) with its verdict,
each check's effect, interval and n, and an evidence chart."""

import streamlit as st

from ablab.core.lab.study import load_study
from ablab.core.lab.verdicts import verdict, verdict_frame
from ablab.core.plugin_system.registry import default_registry
from ablab.dashboard import charts, launcher
from ablab.dashboard.common import get_store
from ablab.dashboard.data import band_caption, evidence_rows
from ablab.dashboard.viewstate import link_get

st.title("Claims")
st.caption(
    "Each study with checks states a claim and the checks that decide it: the built-in claims and any study "
    "you ran with `[[checks]]`. A check holds when its whole interval clears the threshold, does not hold when it "
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

with st.spinner(f"Reading the verdicts of {len(entries)} claims from the store..."):
    # only the columns each study's checks read; the page draws once every verdict is known
    frames = [verdict_frame(store, e[0], e[4], registry, checks=e[3]) for e in entries]

watched: list[str] = []  # claims running now
for (name, claim, description, checks, _, path), frame in zip(entries, frames):
    v = verdict(name, claim, checks, frame) if not frame.empty else None
    label = "not run yet" if v is None else v.label
    icon = {"holds": ":material/check_circle:", "does not hold": ":material/cancel:"}.get(label, ":material/help:")
    # the study's name leads: it is what `ablab claims --study NAME` takes
    with st.expander(f"`{name}`: {claim}  —  **{label}**", icon=icon, expanded=link_get("claim") == name):
        st.write(description or f"Study {name}, from the store.")
        if path is not None:
            running = launcher.running(store.url, name)
            # a rerun recomputes every run (`ablab run --rerun`): without it, a fully stored
            # claim would finish at once having recomputed nothing
            if st.button(
                "Rerun this claim" if v is not None else "Run this claim",
                key=f"run_{name}",
                disabled=running is not None,
                help="Recomputes every run of this claim (`ablab run --rerun`), replacing the stored ones."
                if v is not None
                else "Runs this claim's study into the store.",
            ):
                launcher.launch(store.url, name, path, rerun=v is not None)
                st.session_state.setdefault("claim_launched", {})[name] = v is not None
                st.query_params["claim"] = name
                st.rerun()  # redraw with the button disabled; the watcher below refreshes when it ends
            if running is not None:
                watched.append(name)
                again = st.session_state.get("claim_launched", {}).get(name)
                what = "recomputing every run (--rerun)" if again else "running"
                st.caption(f"{what} (pid {running}); this page refreshes when it finishes")
        if v is None:
            continue
        st.table([{"check": c.what, "verdict": c.label, "effect [interval], n": c.text} for c in v.checks])
        # a chart per quantity the checks read (not only the first check's): each check's evidence shows
        for quantity in dict.fromkeys(c["quantity"] for c in checks):
            evidence = evidence_rows(frame, quantity)
            if not len(evidence):
                continue
            about = [c["what"] for c in checks if c["quantity"] == quantity]
            title = about[0] if len(about) == 1 else f"{quantity} ({len(about)} checks)"
            st.altair_chart(charts.bar_chart(evidence, value_title=quantity, title=title), width="content")
            st.caption(
                f"Evidence for: {'; '.join(about)}. One row per configuration; dots: the mean over seeds. "
                + band_caption(evidence, noun="Bars")
            )
        st.page_link("views/results.py", label="All results of this study", query_params={"study": name})


@st.fragment(run_every=3)
def watch(names: list[str]) -> None:
    """Rerun the page when a claim started here finishes, so its verdict shows without a reload."""
    if any(launcher.running(store.url, n) is None for n in names):
        st.rerun()


if watched:
    watch(watched)
