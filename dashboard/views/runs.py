"""Runs: one run at a time, its curves per seed, its configuration and its traceback if it failed."""

import json
import math

import altair as alt
import pandas as pd
import streamlit as st

from ablab.core.lab import aggregates
from ablab.core.lab.results import point_key
from ablab.dashboard import charts, series
from ablab.dashboard.common import get_store, memo, study_picker
from ablab.dashboard.data import config_labels, varying_axes
from ablab.dashboard.viewstate import keep, url_int, url_value, url_values, wkey

PAGE = 100  # runs of one configuration shown at a time: a table of thousands is not readable


def page_of(store, study: str, points: list[dict], sizes: list[int], offset: int, limit: int) -> list[dict]:
    """`limit` runs from `offset` of the configurations `points` (one, unless two share a label)
    taken in turn, each in seed order; sizes: their run counts."""
    rows: list[dict] = []
    for point, size in zip(points, sizes):
        if offset >= size:
            offset -= size
            continue
        rows += store.runs_at(study, point, offset=offset, limit=limit - len(rows))
        offset = 0
        if len(rows) >= limit:
            break
    return rows


st.title("Runs")
store = get_store()
study = study_picker(store)
if study is None:
    st.stop()
token = store.state_token()
# configurations from one GROUP BY; then only the shown page of one configuration's runs is read
counts = memo((store.url, study, token, "run counts"), lambda: aggregates.run_counts(store, study))
if counts.empty:
    st.warning(f"Study {study!r} has no runs yet.")
    st.stop()
configurations = series.configurations(list(counts["point"]))
labels = config_labels(configurations, varying_axes(configurations))
configs = sorted(set(labels))
config = st.selectbox(
    "Configuration", configs, index=configs.index(url_value("config", configs, configs[0])), key=wkey("run_config")
)
keep("config", config, configs[0])
points = [json.loads(k) for k in configurations[labels == config]["point_key"]]
sizes = counts.assign(key=counts["point"].map(point_key)).groupby("key")["runs"].sum()
n_runs = int(sum(sizes[point_key(p)] for p in points))
pages = math.ceil(n_runs / PAGE)
number = 1
if pages > 1:
    number = int(
        st.number_input(
            f"Page ({PAGE} runs a page, in seed order; {n_runs} runs in all)",
            min_value=1,
            max_value=pages,
            value=url_int("page", 1, pages, 1),
            key=wkey(f"run_page_{config}"),
        )
    )
    keep("page", number, 1)
rows = page_of(store, study, points, [int(sizes[point_key(p)]) for p in points], (number - 1) * PAGE, PAGE)
stored = {r["key"]: r for r in rows}
members = pd.DataFrame({c: [r[c] for r in rows] for c in ("key", "seed", "status", "diverged_step", "seconds")})
SHARE = "seconds (share of the ensemble job)"
table = members[["seed", "status", "diverged_step", "seconds", "key"]].rename(columns={"seconds": SHARE})
# text, so a run that did not diverge shows a blank cell rather than "None"
table["diverged_step"] = [("" if pd.isna(s) else str(int(s))) for s in table["diverged_step"]]
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        SHARE: st.column_config.NumberColumn(
            SHARE,
            format="%.3f",
            help="A configuration's seeds train together as one ensemble job; each run is given the job's "
            "wall time divided by its seeds, not a time of its own.",
        ),
        "diverged_step": st.column_config.TextColumn("diverged at step", help="blank: the run did not diverge"),
    },
)

metrics = store.metrics_of(list(members["key"]))
if len(metrics):
    seed_of = dict(zip(members["key"], members["seed"].astype(str)))
    seed_order = [str(s) for s in sorted(members["seed"])]  # the legend in number order, not text order
    metrics = metrics.assign(seed=metrics["run_key"].map(seed_of))
    names = [n for n in ("loss", "accuracy", "grad_norm") if n in set(metrics["name"])]
    offered = sorted(set(metrics["name"]) - {"baseline"})
    wanted = url_values("curves", offered)
    shown = st.multiselect("Curves", offered, default=names if wanted is None else wanted, key=wkey("run_curves"))
    keep("curves", shown, names)
    positive = metrics[metrics["value"] > 0]
    spans = {  # a curve whose seeds span decades (one diverged beside others) is drawn on a log axis
        n: len(g) == len(metrics[metrics["name"] == n]) and g["value"].max() / g["value"].min() > series.LOG_SPREAD
        for n, g in positive.groupby("name")
    }
    for name in shown:
        sel = metrics[metrics["name"] == name]
        if spans.get(name, False):
            y_scale = alt.Scale(type="log")
        else:
            y_scale = alt.Scale(domain=[0, 1]) if charts.is_share(name, sel["value"]) else alt.Scale(zero=False)
        chart = (
            alt.Chart(sel)
            .mark_line(point=len(sel) < 60)
            .encode(
                x=alt.X("step:Q"),
                y=alt.Y("value:Q", title=name, scale=y_scale),
                color=alt.Color("seed:N", title="seed", sort=seed_order),
                tooltip=["seed:N", "step:Q", alt.Tooltip("value:Q", format=".4g")],
            )
            .properties(title=f"{name}, each seed", width=charts.PLOT_WIDTH, height=220, autosize=charts.FIXED)
        )
        st.altair_chart(chart, width="content")

seeds = [str(s) for s in members["seed"]]
first = url_value("seed", seeds, seeds[0])
key = st.selectbox(
    "Run",
    list(members["key"]),
    index=seeds.index(first),
    format_func=lambda k: f"seed {stored[k]['seed']} · {stored[k]['status']} · {k[:10]}",
    key=wkey("run_key"),
)
keep("seed", str(stored[key]["seed"]), seeds[0])
run = stored[key]
left, right = st.columns(2)
with left:
    st.markdown("**Configuration**")
    st.code(json.dumps(run["config"], indent=2, sort_keys=True), language="json")
with right:
    st.markdown("**Plugin versions**")
    st.dataframe(pd.DataFrame(sorted(run["versions"].items()), columns=["plugin", "version"]), hide_index=True)
if run.get("error"):
    st.error(f"This run failed (status {run['status']}). Its traceback:")
    st.code(run["error"], language=None)
elif run["status"] == "diverged":
    st.warning(f"This run diverged at step {run['diverged_step']}: its loss or gradient went non-finite or exploded.")
