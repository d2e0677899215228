"""Results: configurations grouped over seeds, and one chart per quantity the store holds.

Curves come from the statistics the store keeps per configuration and step (no run's records
are read: a study of 100,000 runs draws like one of 100). Every probe quantity gets its chart
from its own statistics, so a plugin's probe appears here without dashboard code. Every choice
on the page is kept in the link (see viewstate)."""

import numpy as np
import streamlit as st

from ablab.core.engine.probe import ACROSS_ACTIVATIONS
from ablab.core.lab import aggregates
from ablab.core.lab.results import config_summary, result_columns
from ablab.dashboard import charts, laps, series
from ablab.dashboard.common import csv_download, get_store, memo, study_picker
from ablab.dashboard.data import (
    MANY_CONFIGS,
    band_caption,
    config_labels,
    default_facet,
    filter_runs,
    strongest_axis,
    varying_axes,
)
from ablab.dashboard.viewstate import keep, link_get_all, url_int, url_value, url_values, wkey

laps.start()
st.title("Results")
store = get_store()
study = study_picker(store)
laps.lap("store, study picker")
if study is None:
    st.stop()
token = store.state_token()
laps.lap("state token")
base_key = (store.url, study, token)
counts_by_point = memo(base_key + ("run counts",), lambda: aggregates.run_counts(store, study))
if counts_by_point.empty:
    st.warning(f"Study {study!r} has no runs yet.")
    st.stop()
laps.lap("run counts")

counts = counts_by_point.groupby("status")["runs"].sum().to_dict()
st.caption(" · ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + f" · {sum(counts.values())} runs")
configs = series.configurations(list(counts_by_point["point"]))

varying = varying_axes(configs)
names = [c.lstrip("@") for c in varying]


def follow_facet(colour_key: str, before_key: str, facet_name: str, others: list[str]) -> bool:
    """When the small multiples change axis, the axis they leave joins Colour by (else it would
    silently be averaged away) and the one they take leaves it. True when the choice was moved."""
    before = st.session_state.get(before_key)
    st.session_state[before_key] = facet_name
    if before in (None, facet_name) or colour_key not in st.session_state:
        return False
    kept = [n for n in st.session_state[colour_key] if n in others]
    st.session_state[colour_key] = kept + ([before] if before in others and before not in kept else [])
    return True


facet_default = default_facet(configs)
default_facet_name = facet_default.lstrip("@") if facet_default else "none"
# The view's controls sit in popovers, not expanders: Streamlit mounts an expander's (and a tab's)
# widgets in the browser even when closed, a popover's only when opened. Every widget still runs
# here (its value, its link key); a reload costs the browser ~0.1 CPU-s less (NOTES, session 9, browser).
controls = st.container(horizontal=True)
grouping_note = ""
with controls.popover("Group and smooth", help="Small multiples, colour, smoothing: kept in the link"):
    facet_name = st.selectbox(
        "Small multiples: one chart per value of",
        ["none"] + names,
        index=(["none"] + names).index(url_value("facet", names + ["none"], default_facet_name)),
        key=wkey("facet"),
    )
    keep("facet", facet_name, default_facet_name)
    others = [n for n in names if n != facet_name]
    colour_default, why = others, ""
    if len(configs) > MANY_CONFIGS and len(others) > 1:  # one axis, the means over the rest
        held_values = memo(base_key + ("result columns",), lambda: result_columns(store, study))
        loss = ["final_loss"] if "final_loss" in held_values else []  # without it: the axis with most values
        effect = memo(base_key + ("final loss",), lambda: config_summary(store, study, loss, counts_by_point))
        colour_default = [strongest_axis(effect, others)]
        moved = loss and bool(np.isfinite(effect["final_loss"].astype(float)).any())  # as strongest_axis decides
        why = "the axis whose values move the final loss most" if moved else "the axis with most values"
    refaceted = follow_facet(wkey("color_by"), wkey("facet_before"), facet_name, others)
    wanted = None if refaceted else url_values("color", others)  # refaceted: the link is a step behind
    colour_names = st.multiselect(
        "Colour by (fewer axes than vary: each line is the mean over the configurations it holds; "
        "a geometric mean on a log axis)",
        others,
        default=None if refaceted else colour_default if wanted is None else wanted,
        key=wkey("color_by"),
    )
    keep("color", colour_names, colour_default)
    if colour_default != others and colour_names == colour_default:
        rest = ", ".join(n for n in others if n not in colour_default)
        grouping_note = (  # said on the page, not only inside the popover: it is how the charts read
            f"{len(configs)} configurations: each chart colours by {colour_default[0]} ({why}) and each"
            f" line is the mean over {rest}, without a band."
            " Add axes under Group and smooth to see every configuration."
        )
    window = st.slider(
        "Smoothing: rolling mean over this many logged points of each curve and its band (1: none)",
        1,
        25,
        url_int("smooth", 1, 25, 1),
        key=wkey("smooth"),
    )
    keep("smooth", window, 1)
with controls.popover("Filter", help="Which configurations the table and charts show: kept in the link"):
    filters = {}
    for c, n in zip(varying, names):
        values = sorted(configs[c].astype(str).unique())
        chosen = url_values(f"f.{n}", values)
        filters[c] = st.multiselect(f"Show {n}", values, default=chosen or values, key=wkey(f"filter_{c}"))
        keep(f"f.{n}", sorted(filters[c]), values)

shown_configs = filter_runs(configs, filters)
if grouping_note:
    st.caption(grouping_note)
if len(shown_configs) < len(configs):  # the filter's choices are out of sight in their popover
    st.caption(f"Filtered: {len(shown_configs)} of {len(configs)} configurations shown (see Filter).")
# Everything below is a function of the store's state and these choices: memoised on them, a
# repeat view (or a rerun for another widget) recomputes nothing.
view_key = base_key + (tuple((c, tuple(v)) for c, v in sorted(filters.items())),)
if shown_configs.empty:
    st.warning("No runs match these filters; widen them.")
    st.stop()
facet = None if facet_name == "none" else "@" + facet_name
colour = ["@" + n for n in colour_names]

laps.lap("widgets")
st.subheader("Configurations (mean and 95% interval over seeds)")
# The table reads only the summary values its columns show: at 100,000 runs, all of them would
# be millions of values.
value_names = memo(base_key + ("result columns",), lambda: result_columns(store, study))
laps.lap("result columns")
all_columns = [n for n in names if n not in ("runs", "diverged", "failed")] + ["runs", "diverged", "failed"]
all_columns += [c for v in value_names for c in (v, f"{v} ±95%")]
headline = names + ["runs", "diverged", "failed"]
headline += [c for c in ("final_loss", "final_loss ±95%", "final_accuracy", "final_accuracy ±95%") if c in all_columns]
picked_cols = url_values("cols", all_columns)
shown = st.popover("Columns", help="Which of the table's columns to show: kept in the link").multiselect(
    "Columns",
    all_columns,
    default=picked_cols or headline,
    key=wkey("columns"),
    help=f"{len(all_columns)} columns in all; `ablab results {study} --columns all` prints every one",
)
keep("cols", shown, headline)
needed = sorted({c.removesuffix(" ±95%") for c in shown or headline} & set(value_names))
table = memo(base_key + ("summary", tuple(needed)), lambda: config_summary(store, study, needed, counts_by_point))
laps.lap("summary table: query")
table = table[table["point"].isin(shown_configs["point_key"])].drop(columns="point")
st.dataframe(table[[c for c in shown or headline if c in table.columns]], hide_index=True, width="stretch")
csv_download(table, f"{study}-summary", "dl_summary")
laps.lap("summary table: sent")
st.page_link("views/runs.py", label="Each run: its curves, configuration and error", query_params={"study": study})

series_labels = sorted(set(config_labels(shown_configs, [c for c in colour if c != facet])))
shared = url_value("hl", series_labels, "")  # a label no line has (a stale link) is named and left out
picked = st.selectbox(
    "Highlight in every chart",
    ["none"] + series_labels,
    key=wkey("highlight"),
    index=series_labels.index(shared) + 1 if shared in series_labels else 0,
    help="A legend click highlights within one chart; this highlights in all of them and goes into the link.",
)
highlight = None if picked == "none" else picked  # labels are "axis=value" pairs, never "none"
keep("hl", highlight, None)
drawn = []
charted: list[str] = []  # the keys of the charts drawn: what ?log= and ?lin= may name


def draw(select, key: str, title: str, y_title: str, *, x="step", x_title="step", baseline=None, variant=None):
    """One chart of the store's statistics for one quantity (select() returns them): its log
    toggle, the chart and its CSV. Statistics, curves and the chart spec are memoised."""
    quantity = base_key + (key, variant, points)  # variant: the checkpoint of a profile
    stats = memo(quantity + ("stats",), select)
    laps.lap(f"chart {key}: statistics")
    if stats.empty:
        return
    charted.append(key)
    default_log, loggable = series.starts_on_log(stats)
    logs, linear = link_get_all("log"), link_get_all("lin")
    start = True if key in logs else False if key in linear else default_log  # exploding quantities need it
    log_y = st.toggle(f"log scale ({title})", value=start and loggable, key=wkey(f"log_{key}"), disabled=not loggable)
    keep("log", [k for k in logs if k != key] + ([key] if log_y and not default_log else []), [])
    keep("lin", [k for k in linear if k != key] + ([key] if default_log and not log_y else []), [])

    def build():
        frame = series.curves(
            stats,
            shown_configs,
            colour=colour,
            facet=facet,
            x=x,
            log=log_y,
            bounds=series.bounds(key, stats),
            window=window if x == "step" else 1,
        )
        chart = charts.band_chart(
            frame,
            x_title=x_title,
            y_title=y_title,
            title=title,
            log_y=log_y,
            baseline=baseline,
            baseline_label="trivial predictor",
            highlight=highlight,
            legend_title=", ".join(colour_names) or "all runs",
            facet_title=facet_name if facet else None,
        )
        return frame, chart.to_dict(validate=False)  # the builders make valid specs; tests validate them

    frame, spec = memo(
        view_key + (key, variant, tuple(colour), facet, log_y, highlight, window, title, baseline), build
    )
    laps.lap(f"chart {key}: curves and spec")
    st.vega_lite_chart(charts.inline(spec), width="content")  # its own pixel size: see charts.PLOT_WIDTH
    csv_download(frame, f"{study}-{key}", f"dl_{key}")
    laps.lap(f"chart {key}: sent with its CSV")
    drawn.append(frame)


held = memo(base_key + ("quantities",), lambda: aggregates.quantities(store, study))
metric_names = set(held[held["kind"] == "metric"]["name"])
laps.lap("quantities")
# fewer steps per curve when a chart draws many lines: counted as drawn (a line is a colour in a
# small multiple), so grouping 100 configurations into 20 lines keeps 20 lines' detail
drawn_by = list(dict.fromkeys(colour + ([facet] if facet else [])))
lines = len(shown_configs[drawn_by].drop_duplicates()) if drawn_by else 1
points = series.points_per_curve(lines)
if metric_names:
    base_stats = memo(base_key + ("baseline",), lambda: aggregates.metric_curve(store, study, "baseline"))
    baseline = float(base_stats["mean"].mean()) if len(base_stats) else None
    laps.lap("baseline")
    st.subheader("Training")
    for name, y_title, title, base in (
        ("loss", "training loss", "Loss", baseline),
        ("accuracy", "accuracy", "Accuracy", None),
        ("grad_norm", "pre-clip gradient norm", "Gradient norm", None),
    ):
        if name in metric_names:
            draw(
                lambda name=name: aggregates.metric_curve(store, study, name, max_points=points),
                name,
                title,
                y_title,
                baseline=base,
            )

TITLES = {  # readable titles for the built-in probes; any other quantity is titled "probe: name"
    ("dead_fraction", ACROSS_ACTIVATIONS): "Dead units (share), every cell's activations but gates",
    ("mean_shift", ACROSS_ACTIVATIONS): "Mean activation (mean shift), every cell's activations but gates",
    ("saturation", ACROSS_ACTIVATIONS): "Saturated units (share), every cell's activations but gates",
    ("dead_fraction", "h"): "Dead units (share)",
    ("mean_shift", "h"): "Mean activation (mean shift)",
    ("saturation", "h"): "Saturated units (share)",
    ("jacobian", "jacobian_sigma_max"): "Top singular value of ds_t/ds_t-1",
    ("clipping", "clip_rate"): "Share of steps clipped",
    ("clipping", "preclip_norm_mean"): "Mean pre-clip gradient norm",
    ("grad_through_time", "norm"): "Gradient norm through time ||dL/dh_k||",
    ("memory_span", "accuracy"): "Recall accuracy by lag",
}
probe_rows = held[held["kind"] == "probe"]
# a quantity with one number per checkpoint is a scalar (even beside per-unit values: units have
# no order a curve could follow); one recorded only along an index (a lag) is a profile
scalar_names = sorted(set(probe_rows[~probe_rows["profile"]]["name"]))
profile_names = sorted(set(probe_rows[probe_rows["profile"]]["name"]) - set(scalar_names))
if scalar_names:
    st.subheader("Probes over training")
by_probe: dict[str, list[str]] = {}
for full in scalar_names:
    probe, name = full.split(".", 1)
    by_probe.setdefault(probe, []).append(name)
for probe, names_ in by_probe.items():  # one chart per probe; its quantities one pick away
    first = next((n for n in (ACROSS_ACTIVATIONS, "h") if n in names_), names_[0])
    name = first
    if len(names_) > 1:
        name = st.selectbox(
            f"{probe}: quantity ({len(names_)})",
            names_,
            index=names_.index(url_value(f"q.{probe}", names_, first)),
            key=wkey(f"q_{probe}"),
        )
        keep(f"q.{probe}", name, first)
    title = TITLES.get((probe, name), f"{probe}: {name}")
    draw(
        lambda p=probe, n=name: aggregates.probe_curve(store, study, p, n, max_points=points),
        f"{probe}.{name}",
        title,
        f"{probe}.{name}",
    )
stepped = len(drawn)  # the charts over steps; profiles (over an index) are never thinned
for full in profile_names:
    probe, name = full.split(".", 1)
    st.subheader(TITLES.get((probe, name), f"{probe}: {name} by index"))
    steps = memo(base_key + ("steps", full), lambda full=full: aggregates.profile_steps(store, study, full))
    laps.lap(f"profile steps {full}")
    default_at = steps[0] if probe == "grad_through_time" else steps[-1]  # init shows eta; the end, memory
    at = st.select_slider(
        "Checkpoint (step)",
        options=steps,
        value=int(url_value(f"at.{full}", [str(s) for s in steps], str(default_at))),
        key=wkey(f"at_{full}"),
    )
    keep(f"at.{full}", str(at), str(default_at))
    x_title = "lag from the last step (t - k)" if probe in ("grad_through_time", "memory_span") else "index"
    draw(
        lambda p=probe, n=name, at=at: aggregates.probe_profile(store, study, p, n, step=at),
        full,
        f"{full} at step {at}",
        full,
        x="idx",
        x_title=x_title,
        variant=at,
    )

for key in ("log", "lin"):  # a value naming no chart here (a typo, another study's probe) is said and dropped
    url_values(key, charted)
caption = band_caption(*drawn)
if any(len(f) and f["x"].nunique() >= points for f in drawn[:stepped]) and points < aggregates.CURVE_POINTS:
    caption += (  # said only where a curve may have been thinned for the browser's sake
        f" With {lines} lines in a chart each curve over steps shows at most {points} evenly spaced logged"
        " steps (the first and last among them), so that a chart stays quick to draw."
    )
if caption:
    st.caption(caption.strip())
laps.lap("caption")
