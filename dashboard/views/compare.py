"""Compare: two or more studies side by side: their configurations in one table and each
training metric as one small multiple per study, on one shared y scale, each on its own step
axis. As on the Results page, lines can be coloured by fewer axes (each the mean over the
configurations it holds) and configurations filtered, so many of them still read."""

import pandas as pd
import streamlit as st

from ablab.core.lab import aggregates
from ablab.core.lab.results import config_summary, result_columns
from ablab.dashboard import charts, compare_table, series
from ablab.dashboard.common import get_store, memo
from ablab.dashboard.data import band_caption, filter_runs, short_names, varying_axes
from ablab.dashboard.viewstate import keep, url_value, url_values

st.title("Compare studies")
store = get_store()
names = store.study_names()
if len(names) < 2:
    st.info("Comparing needs two studies in the store; run another on **Run** or **Claims**.")
    st.stop()
wanted = url_values("studies", names)
chosen = st.multiselect("Studies", names, default=wanted or names[:2], key="compare_studies")
keep("studies", chosen, None)
if len(chosen) < 2:
    st.warning("Pick at least two studies.")
    st.stop()

token = store.state_token()
# the table is answered by the store per configuration (results.config_summary), for the values
# picked here: a study's runs are never read one row each
value_names = list(
    dict.fromkeys(
        v
        for name in chosen
        for v in memo((store.url, name, token, "result columns"), lambda n=name: result_columns(store, n))
    )
)
headline = [v for v in ("final_loss", "final_accuracy") if v in value_names]
wanted_values = url_values("values", value_names)
values = st.multiselect(
    "Values (mean and 95% interval over seeds)",
    value_names,
    default=headline if wanted_values is None else wanted_values,
    key="compare_values",
)
keep("values", values, headline)
tables = []
for name in chosen:
    summary = memo(
        (store.url, name, token, "summary", tuple(values)), lambda name=name: config_summary(store, name, values)
    )
    if not summary.empty:
        split, study_axes = compare_table.split_axes(summary)  # "a+b" axes as a and b: rows line up
        tables.append((split.drop(columns="point").assign(study=name), study_axes))
if not tables:
    st.warning("None of these studies has runs yet.")
    st.stop()
table = pd.concat([t for t, _ in tables], ignore_index=True)
# every study's axes first, so configurations that differ only in an axis of the second study
# are told apart without scrolling to the far right of a wide table
axes = list(dict.fromkeys(a for _, study_axes in tables for a in study_axes))
first = ["study"] + axes + [c for c in table.columns if c not in axes and c != "study"]
# an axis one study varies and another does not: that study's base value, marked, not "None"
table = compare_table.fill_unvaried(table, axes, {name: store.study_spec(name) for name in chosen})
st.dataframe(table[first], hide_index=True, width="stretch")
if note := compare_table.caption(table, axes):
    st.caption(note)

held = pd.concat([aggregates.quantities(store, name) for name in chosen], ignore_index=True)
metric_names = sorted(set(held[held["kind"] == "metric"]["name"]) - {"baseline"})
if not metric_names:
    st.stop()
metric = st.selectbox(
    "Metric", metric_names, index=metric_names.index("loss") if "loss" in metric_names else 0, key="compare_metric"
)
held_stats = {
    name: memo(
        (store.url, name, token, "metric", metric), lambda name=name: aggregates.metric_curve(store, name, metric)
    )
    for name in chosen
}
held_stats = {name: stats for name, stats in held_stats.items() if len(stats)}
# one y scale for all studies: a log axis when the studies' values together span decades (a diverged
# study beside a converged one), as the Results page starts
default_log, loggable = series.starts_on_log(pd.concat(held_stats.values())) if held_stats else (False, False)
start = url_value("log", ["on", "off"], "on" if default_log else "off") == "on"
log_y = st.toggle("log scale", value=start and loggable, key="compare_log", disabled=not loggable)
keep("log", "on" if log_y else "off", "on" if default_log else "off")
configs = {name: series.configurations(list(stats["point"])) for name, stats in held_stats.items()}
# the axes any chosen study varies, by their short names as the Results page shows them
axis_columns = list(dict.fromkeys(c for frame in configs.values() for c in varying_axes(frame)))
axis_names = list(short_names(axis_columns).values())  # whole names where two would read the same
with st.expander("Colour and filter", expanded=any(k.startswith("f.") for k in st.query_params)):
    wanted_colour = url_values("color", axis_names)
    colour_names = st.multiselect(
        "Colour by (fewer axes than vary: each line is the mean over the configurations it holds)",
        axis_names,
        default=axis_names if wanted_colour is None else wanted_colour,
        key="compare_color",
    )
    keep("color", colour_names, axis_names)
    filters = {}
    for c, n in zip(axis_columns, axis_names):
        values = sorted({v for frame in configs.values() if c in frame.columns for v in frame[c].astype(str)})
        chosen_values = url_values(f"f.{n}", values)
        filters[c] = st.multiselect(f"Show {n}", values, default=chosen_values or values, key=f"compare_filter_{n}")
        keep(f"f.{n}", sorted(filters[c]), values)
colour = [c for c, n in zip(axis_columns, axis_names) if n in colour_names]
curves = []
for name, stats in held_stats.items():
    shown = filter_runs(configs[name], filters)  # an axis this study does not vary filters none of its runs
    if shown.empty:
        continue
    frame = series.curves(stats, shown, colour=colour, bounds=series.bounds(metric, stats), log=log_y)
    curves.append(frame.assign(facet=f"study={name}"))
if not curves:
    st.warning("No configurations match these filters; widen them.")
else:
    both = pd.concat(curves, ignore_index=True)
    chart = charts.band_chart(
        both,
        x_title="step",
        y_title=metric,
        title=f"{metric} by study",
        legend_title=", ".join(colour_names) or "all runs",
        facet_title=None,
        log_y=log_y,
    )
    # each study on its own step axis (a 100-step study beside a 200-step one fills its panel);
    # one y scale, so levels compare across panels
    chart = chart.resolve_scale(x="independent", y="shared")
    st.altair_chart(chart, width="content")
    st.caption(band_caption(both))
