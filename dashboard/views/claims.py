"""Claims: every study with checks (the built-in claims and any stored study) with its verdict,
each check's effect, interval and n, and an evidence chart."""

import streamlit as st

from ablab.core.lab.verdicts import verdict, verdict_frame
from ablab.core.plugin_system.registry import default_registry
from ablab.dashboard import charts, claim_list, claim_seeds, launcher
from ablab.dashboard.common import get_store
from ablab.dashboard.data import band_caption, evidence_rows
from ablab.dashboard.viewstate import link_get

st.title("Claims")
st.caption(
    "Each study with checks states a claim and the checks that decide it: the built-in claims and any study "
    "you ran with `[[checks]]`. A check holds when its whole interval clears the threshold, does not hold when it "
    "lies wholly on the other side, and is inconclusive otherwise (more seeds may settle it); intervals are "
    "widened by Holm's correction over a study's checks. \"Run with new seeds\" runs a claim again on other seeds "
    "(every seed + 1000) to show whether its verdict survives them."
)
store = get_store()
registry = default_registry()
# a study run with new seeds shows under its claim, whatever its shift, not as a claim of its own
claims, shifts = claim_list.claims_and_shifts(store, registry)

with st.spinner(f"Reading the verdicts of {len(claims)} claims from the store..."):
    # only the columns each study's checks read; the page draws once every verdict is known
    frames = [verdict_frame(store, c.name, c.solve, registry, checks=c.checks) for c in claims]

watched: list[str] = []  # claims running now
for c, frame in zip(claims, frames):
    v = verdict(c.name, c.claim, c.checks, frame, c.looks) if not frame.empty else None
    label = "not run yet" if v is None else v.label
    icon = {"holds": ":material/check_circle:", "does not hold": ":material/cancel:"}.get(label, ":material/help:")
    # the study's name leads: it is what `ablab claims --study NAME` takes
    with st.expander(f"`{c.name}`: {c.claim}  —  **{label}**", icon=icon, expanded=link_get("claim") == c.name):
        st.write(c.description or f"Study {c.name}, from the store.")
        if c.path is not None:
            running = launcher.running(store.url, c.name)
            # a rerun recomputes every run (`ablab run --rerun`): without it, a fully stored
            # claim would finish at once having recomputed nothing
            if st.button(
                "Rerun this claim" if v is not None else "Run this claim",
                key=f"run_{c.name}",
                disabled=running is not None,
                help="Recomputes every run of this claim (`ablab run --rerun`), replacing the stored ones."
                if v is not None
                else "Runs this claim's study into the store.",
            ):
                launcher.launch(store.url, c.name, c.path, rerun=v is not None)
                st.session_state.setdefault("claim_launched", {})[c.name] = v is not None
                st.query_params["claim"] = c.name
                st.rerun()  # redraw with the button disabled; the watcher below refreshes when it ends
            if running is not None:
                watched.append(c.name)
                again = st.session_state.get("claim_launched", {}).get(c.name)
                what = "recomputing every run (--rerun)" if again else "running"
                st.caption(f"{what} (pid {running}); this page refreshes when it finishes")
        if v is None:
            continue
        st.table([{"check": r.what, "verdict": r.label, "effect [interval], n": r.text} for r in v.checks])
        claim_seeds.section(store, registry, c, shifts.get(c.name, []), v, watched)  # the same checks, new seeds
        # a chart per quantity the checks read (not only the first check's): each check's evidence shows
        for quantity in dict.fromkeys(check["quantity"] for check in c.checks):
            evidence = evidence_rows(frame, quantity)
            if not len(evidence):
                continue
            about = [check["what"] for check in c.checks if check["quantity"] == quantity]
            title = about[0] if len(about) == 1 else f"{quantity} ({len(about)} checks)"
            st.altair_chart(charts.bar_chart(evidence, value_title=quantity, title=title), width="content")
            st.caption(
                f"Evidence for: {'; '.join(about)}. One row per configuration; dots: the mean over seeds. "
                + band_caption(evidence, noun="Bars")
            )
        st.page_link("views/results.py", label="All results of this study", query_params={"study": c.name})


@st.fragment(run_every=3)
def watch(names: list[str]) -> None:
    """Rerun the page when a claim started here finishes, so its verdict shows without a reload."""
    if any(launcher.running(store.url, n) is None for n in names):
        st.rerun()


if watched:
    watch(watched)
