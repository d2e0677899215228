"""Compare: two or more studies side by side: their configurations in one table and each
training metric as one small multiple per study, on one shared y scale."""

import pandas as pd
import streamlit as st

from ablab.core.lab.results import summary
from ablab.dashboard import charts
from ablab.dashboard.common import get_store, load
from ablab.dashboard.data import band_caption, curves, value_bounds
from ablab.dashboard.viewstate import keep, url_values

st.title("Compare studies")
store = get_store()
names = [s["name"] for s in store.studies()]
if len(names) < 2:
    st.info("Comparing needs two studies in the store; run another on **Run** or **Claims**.")
    st.stop()
wanted = url_values("studies", names)
chosen = st.multiselect("Studies", names, default=wanted or names[:2], key="compare_studies")
keep("studies", chosen, None)
if len(chosen) < 2:
    st.warning("Pick at least two studies.")
    st.stop()

loaded = {name: load(store, name) for name in chosen}
tables = [summary(d["runs"]).assign(study=name) for name, d in loaded.items() if not d["runs"].empty]
table = pd.concat(tables, ignore_index=True)
# every study's axes first (a column before "runs"), so configurations that differ only in an axis
# of the second study are told apart without scrolling to the far right of a wide table
axes = list(dict.fromkeys(c for t in tables for c in t.columns[: list(t.columns).index("runs")] if c != "study"))
first = ["study"] + axes + [c for c in table.columns if c not in axes and c != "study"]
st.dataframe(table[first], hide_index=True, width="stretch")

metric_names = sorted({n for d in loaded.values() if len(d["metrics"]) for n in d["metrics"]["name"]} - {"baseline"})
if not metric_names:
    st.stop()
metric = st.selectbox(
    "Metric", metric_names, index=metric_names.index("loss") if "loss" in metric_names else 0, key="compare_metric"
)
frames = []
for name, d in loaded.items():
    m = d["metrics"]
    sel = m[m["name"] == metric] if len(m) else m
    if len(sel):
        frame = curves(sel, d["runs"], bounds=value_bounds(metric, sel["value"]))
        frames.append(frame.assign(facet=f"study={name}"))
if frames:
    both = pd.concat(frames, ignore_index=True)
    chart = charts.band_chart(
        both, x_title="step", y_title=metric, title=f"{metric} by study", legend_title="configuration", facet_title=None
    )
    st.altair_chart(chart, width="content")
    st.caption(band_caption(both))
