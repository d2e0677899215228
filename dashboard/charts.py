"""Pure chart builders: a tidy DataFrame in, an alt.Chart out. No Streamlit here.

Curve frames have columns x, config, mean, lo, hi, n, interval and optionally facet (see
ablab.dashboard.data.curves): one row per series, x (and facet). A series is one configuration
(its band is over seeds) or, when grouped by fewer axes, the mean over configurations (no band).

Readable at 24+ series: one small multiple per value of the facet axis, every series its own
(colour, dash) pair (10 colours, then the same colours dashed), the legend outside the plot with
no entry cut, a y-domain that follows the data and a height per facet row, never a shared one.
A share (accuracy, dead units, a rate: see is_share) is drawn on 0..1, so two charts
of shares compare by eye; an axis of whole numbers (a lag, an index) has whole-number ticks.

Light in the browser (issue 15: the Results page drawn within 3 s / 1.5 s): Vega evaluates every
mark's expressions once per point with its CSP interpreter, so the curve marks carry no ARIA
description (a sentence per point, nobody's screen reader reads 3,000 of them), the chart data
holds only the columns the marks and tooltip read, values rounded to SIGNIFICANT digits, and
the only transforms left to Vega are Vega-Lite's own (x parsed as a number, the facet domain)
and the baseline's one count per facet.
"""

from __future__ import annotations

import csv
import io

import altair as alt
import numpy as np
import pandas as pd

from ablab.dashboard.data import SHARE_WORDS

# Altair refuses data of more than 5,000 rows: a chart of 24 configurations x 300 steps failed
# with MaxRowsError. The rows a chart holds are bounded by the page instead (series.points_per_curve).
alt.data_transformers.disable_max_rows()

# Charts have fixed pixel sizes, legends and axes added around the plot (autosize "pad"). Sized
# to their container (Streamlit's default, autosize "fit") the legend's rows were taken out of
# the plot's height, which collapsed the plot at 12+ configurations.
PLOT_WIDTH = 520  # with a legend of 24 whole labels beside it, fits a 1400 px window
FIXED = alt.AutoSizeParams(type="pad", contains="padding")
# Vega's tableau10: distinct in hue and lightness; past ten series the dash tells them apart.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
DASHES = [[1, 0], [7, 3], [2, 2], [10, 3, 2, 3], [4, 6]]
PLOT_HEIGHT = 240  # one plot area, px; a faceted chart grows a row at a time
FACET_WIDTH = 270  # three across fit a 1400 px window beside the sidebar
FACET_COLUMNS = 3
SIGNIFICANT = 4  # digits of the values sent to the browser: the tooltip shows 4, a pixel is coarser still
SENT = ["x", "config", "facet", "mean", "lo", "hi", "n"]  # the columns a band chart's marks read


def is_share(quantity: str, values: pd.Series) -> bool:
    """A share: its name says so (data.SHARE_WORDS, as series.bounds clamps bands) and every
    finite value lies in [0, 1]."""
    v = pd.Series(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(len(v)) and bool(((v >= 0) & (v <= 1)).all()) and any(w in quantity for w in SHARE_WORDS)


def significant(values: pd.Series, digits: int = SIGNIFICANT) -> pd.Series:
    """values rounded to `digits` significant digits (what is sent to the browser: fewer bytes,
    and nothing a chart or its 4-digit tooltip could show is lost); non-finite values unchanged."""
    return pd.Series([float(f"{v:.{digits}g}") for v in values.astype(float)], index=values.index, dtype=float)


def sent(data: pd.DataFrame) -> pd.DataFrame:
    """The curve frame as the browser gets it: SENT columns only (the band's kind, one string per
    point, is said once in the page's caption), mean and band rounded to SIGNIFICANT digits."""
    out = data[[c for c in SENT if c in data.columns]].copy()
    for c in ("mean", "lo", "hi"):
        out[c] = significant(out[c])
    return out


def styles(labels) -> pd.DataFrame:
    """(config, colour, dash) per label: colour cycles first, then the dash, so no two labels
    share both until len(PALETTE) * len(DASHES) = 50 series."""
    ordered = sorted(set(labels), key=str)
    return pd.DataFrame(
        {
            "config": ordered,
            "colour": [PALETTE[i % len(PALETTE)] for i in range(len(ordered))],
            "dash": [DASHES[(i // len(PALETTE)) % len(DASHES)] for i in range(len(ordered))],
        }
    )


def _highlight(config: str | None = None):
    """Clicking a legend entry highlights that configuration; `config` starts highlighted (the
    page passes the same one to every chart, which is how a highlight spans charts)."""
    start = [{"config": config}] if config is not None else alt.Undefined
    return alt.selection_point(fields=["config"], bind="legend", name="pick", value=start)


def _encodings(labels, legend_title: str, below: bool = False) -> dict:
    """Colour and dash from one legend that is never cut: beside the plot, or below a facet grid
    (which takes the page's width), in as many columns as fit."""
    style = styles(labels)
    legend = alt.Legend(
        orient="bottom" if below else "right",
        columns=2 if below else 1,
        symbolLimit=0,
        labelLimit=0,
        titleLimit=0,
        symbolOpacity=1,
        symbolType="stroke",  # a line sample, so the dash shows in the legend too
        symbolStrokeWidth=2.5,
        symbolSize=320,
        title=legend_title,
    )
    domain = list(style["config"])
    return {
        "color": alt.Color("config:N", scale=alt.Scale(domain=domain, range=list(style["colour"])), legend=legend),
        "strokeDash": alt.StrokeDash(
            "config:N", scale=alt.Scale(domain=domain, range=list(style["dash"])), legend=legend
        ),
    }


def band_chart(
    data: pd.DataFrame,
    *,
    x_title: str,
    y_title: str,
    title: str,
    log_y: bool = False,
    log_x: bool = False,
    baseline: float | None = None,
    baseline_label: str = "baseline",
    highlight: str | None = None,
    legend_title: str = "configuration",
    facet_title: str | None = None,
    share: bool | None = None,
):
    """Mean line per series with its shaded band, faceted when data has a facet column.

    share: the quantity is a share, drawn on a 0..1 axis; None decides from y_title and the
    values (is_share). The baseline, if given, is a dashed rule labelled
    "{baseline_label} {baseline}" at its right end."""
    pick = _highlight(highlight)
    if share is None:
        share = is_share(y_title, pd.concat([data["mean"], data["lo"], data["hi"]]))
    values = pd.concat([data["mean"], data["lo"], data["hi"]]).astype(float)
    values = values[np.isfinite(values)]
    if log_y:
        y_scale = alt.Scale(type="log")
    elif share:
        y_scale = alt.Scale(domain=[0, 1])
    elif len(values) and values.min() == values.max():  # a flat line: Vega's zero-width axis read "0.000000"
        c = float(values.min())
        y_scale = alt.Scale(domain=[0, 1] if c == 0 else sorted([0, 2 * c]))
    else:
        y_scale = alt.Scale(zero=False)
    x_scale = alt.Scale(type="log") if log_x else alt.Scale()
    whole = bool(len(data)) and bool(np.all(np.mod(data["x"].astype(float), 1) == 0))
    x_axis = alt.Axis(tickMinStep=1, format="d") if whole else alt.Axis()  # a lag has no half steps
    faceted = "facet" in data.columns  # even one facet: its header says which value the data has
    enc = _encodings(data["config"], legend_title, below=faceted)
    base = alt.Chart().encode(x=alt.X("x:Q", title=x_title, scale=x_scale, axis=x_axis), color=enc["color"])
    line = (
        base.mark_line(strokeWidth=2, aria=False)  # no per-point ARIA sentence: see the module's docstring
        .encode(
            y=alt.Y("mean:Q", title=y_title, scale=y_scale),
            strokeDash=enc["strokeDash"],
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
            tooltip=[
                alt.Tooltip("config:N", title=legend_title),
                alt.Tooltip("x:Q", title=x_title),
                alt.Tooltip("mean:Q", format=".4g"),
                alt.Tooltip("lo:Q", title="band low", format=".4g"),
                alt.Tooltip("hi:Q", title="band high", format=".4g"),
                alt.Tooltip("n:Q", title="n"),
            ],
        )
        .add_params(pick)
    )
    area = base.mark_area(aria=False).encode(
        y=alt.Y("lo:Q", scale=y_scale), y2="hi:Q", opacity=alt.condition(pick, alt.value(0.16), alt.value(0.03))
    )
    # no band anywhere (means over configurations, single seeds): no area of zero width to draw
    layers = [area, line] if bool((data["lo"] != data["hi"]).any()) else [line]
    if baseline is not None:  # one rule (and label) per facet: aggregate the rows away first
        named = f"{baseline_label} {baseline:.3g}"
        rule = (
            alt.Chart()
            .transform_aggregate(rows="count()")
            .mark_rule(strokeDash=[6, 4], color="gray")
            .encode(y=alt.datum(baseline), tooltip=[alt.Tooltip("rows:Q", title=named)])
        )
        label = (  # the rule says what it is where it is drawn: a dashed line in no legend puzzled readers
            alt.Chart()
            .transform_aggregate(rows="count()")
            .mark_text(align="right", baseline="bottom", dy=-3, color="gray", fontSize=11)
            .encode(x=alt.datum(float(data["x"].max())), y=alt.datum(baseline), text=alt.datum(named))
        )
        layers += [rule, label] if len(data) else [rule]
    if not faceted:
        chart = alt.layer(*layers, data=sent(data)).properties(title=title, width=PLOT_WIDTH, height=PLOT_HEIGHT)
    else:
        columns = min(FACET_COLUMNS, data["facet"].nunique())
        chart = (
            alt.layer(*layers, data=sent(data))
            .properties(width=FACET_WIDTH, height=PLOT_HEIGHT)
            .facet(facet=alt.Facet("facet:N", title=facet_title, header=alt.Header(labelLimit=0)), columns=columns)
            .properties(title=title)
            .resolve_scale(y="shared", x="shared")
        )
    return chart.properties(autosize=FIXED)


def heatmap(
    data: pd.DataFrame, *, x: str, y: str, value: str, title: str, x_title: str, y_title: str, value_title: str
) -> alt.Chart:
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(f"{x}:O", title=x_title),
            y=alt.Y(f"{y}:N", title=y_title, axis=alt.Axis(labelLimit=0)),
            color=alt.Color(f"{value}:Q", title=value_title, scale=alt.Scale(domain=[0, 1], scheme="viridis")),
            tooltip=[
                alt.Tooltip(f"{y}:N", title=y_title),
                alt.Tooltip(f"{x}:O", title=x_title),
                alt.Tooltip(f"{value}:Q", title=value_title, format=".3f"),
            ],
        )
        .properties(title=title, width=PLOT_WIDTH, height=max(120, 24 * data[y].nunique()), autosize=FIXED)
    )


ROW_HEIGHT = 26  # px per configuration in an evidence chart: labels never overlap


def tick_format(data: pd.DataFrame) -> str | None:
    """Exponent notation for values too small or too large for plain ticks (a gradient error of
    2e-8 read "0.000000020"); None keeps Vega's own format."""
    values = data[["lo", "hi", "mean"]].to_numpy(dtype=float)
    values = np.abs(values[np.isfinite(values) & (values != 0)])
    if len(values) and (values.max() < 1e-3 or values.max() >= 1e6):
        return "~e"
    return None


def bar_chart(data: pd.DataFrame, *, value_title: str, title: str) -> alt.Chart:
    """One row per configuration: the mean as a dot, its interval as a bar (columns config, mean,
    lo, hi, n, interval). Labels are whole; the height grows with the rows, so none overlap."""
    rows = data["config"].nunique()
    base = alt.Chart(data).encode(y=alt.Y("config:N", title=None, sort=None, axis=alt.Axis(labelLimit=0)))
    tips = [alt.Tooltip("config:N"), alt.Tooltip("mean:Q", format=".4g")]
    tips += [
        alt.Tooltip("lo:Q", title="interval low", format=".4g"),
        alt.Tooltip("hi:Q", title="interval high", format=".4g"),
    ]
    tips += [alt.Tooltip(c) for c in ("n", "interval") if c in data.columns]
    interval = base.mark_rule(strokeWidth=3, color="#4e79a7").encode(
        x=alt.X(
            "lo:Q",
            title=value_title,
            scale=alt.Scale(zero=False),
            axis=alt.Axis(format=tick_format(data) or alt.Undefined),
        ),
        x2="hi:Q",
        tooltip=tips,
    )
    dots = base.mark_point(filled=True, size=70, color="#e15759").encode(x="mean:Q", tooltip=tips)
    return alt.layer(interval, dots).properties(
        title=title, width=PLOT_WIDTH, height=max(60, ROW_HEIGHT * rows), autosize=FIXED
    )


# Kept at the top of a spec given to Streamlit: what applies to the whole view (the legend
# selection `pick` names the view it binds to, so it stays valid one level down).
TOP_LEVEL = ("$schema", "config", "autosize", "params", "title", "usermeta")


def inline(spec: dict) -> dict:
    """spec as given to Streamlit: its data inline (one CSV string, see as_csv) in a one-view
    vconcat. Streamlit moves a spec's TOP-LEVEL `datasets` and `data.values` into Arrow, which its
    frontend turns back into rows cell by cell; data one level down stays in the spec as it is.
    Drawn the same: the one view at the same size, with the same legend, title and selection.
    Measured at 100 configurations: the page's main-thread script time on a repeat view 1.87 ->
    1.40 s, 609 -> 467 KiB sent (NOTES, Measured, session 8)."""
    spec = dict(spec)
    datasets = spec.pop("datasets", {})

    def resolve(node):
        if isinstance(node, dict):
            if set(node) == {"name"} and node["name"] in datasets:
                return as_csv(datasets[node["name"]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    outer = {k: spec.pop(k) for k in TOP_LEVEL if k in spec}
    return {**outer, "vconcat": [resolve(spec)]}


def as_csv(rows: list[dict]) -> dict:
    """Inline data as one CSV string: Vega parses it with d3-dsv in one pass, and a string is
    copied, compared and serialised by Streamlit's frontend and vega-embed at no cost per row.
    Numbers are parsed as numbers (an empty cell, a missing value, as null)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    numeric = {
        c: "number"
        for c in columns
        if all(isinstance(r.get(c), (int, float, type(None))) and not isinstance(r.get(c), bool) for r in rows)
    }
    return {"values": out.getvalue(), "format": {"type": "csv", "parse": numeric}}
