"""Pure chart builders: a tidy DataFrame in, an alt.Chart out. No Streamlit here.

Band frames have columns x, config, mean, lo, hi, n, interval (see ablab.dashboard.data.band):
the mean over seeds and its band (a 95% confidence interval, or the seeds' range when there are
fewer than three), one row per configuration and x.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

WIDTH = "container"


def _highlight(config: str | None = None):
    """Clicking a legend entry highlights that configuration; `config` starts highlighted (the
    page passes the same one to every chart, which is how a highlight spans charts)."""
    start = [{"config": config}] if config is not None else alt.Undefined
    return alt.selection_point(fields=["config"], bind="legend", name="pick", value=start)


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
) -> alt.Chart:
    """Mean line with a shaded band per configuration, optional horizontal baseline."""
    pick = _highlight(highlight)
    y_scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    x_scale = alt.Scale(type="log") if log_x else alt.Scale()
    base = alt.Chart(data).encode(
        x=alt.X("x:Q", title=x_title, scale=x_scale),
        color=alt.Color(
            "config:N",
            title="configuration",
            scale=alt.Scale(scheme="tableau10"),
            legend=alt.Legend(orient="bottom", columns=2, labelLimit=400, symbolOpacity=1),
        ),
    )
    line = (
        base.mark_line()
        .encode(
            y=alt.Y("mean:Q", title=y_title, scale=y_scale),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
            tooltip=[
                alt.Tooltip("config:N"),
                alt.Tooltip("x:Q", title=x_title),
                alt.Tooltip("mean:Q", format=".4g"),
                alt.Tooltip("lo:Q", title="band low", format=".4g"),
                alt.Tooltip("hi:Q", title="band high", format=".4g"),
                alt.Tooltip("interval:N", title="band"),
                alt.Tooltip("n:Q", title="seeds"),
            ],
        )
        .add_params(pick)
    )
    area = base.mark_area().encode(
        y=alt.Y("lo:Q", scale=y_scale), y2="hi:Q", opacity=alt.condition(pick, alt.value(0.18), alt.value(0.03))
    )
    layers = [area, line]
    if baseline is not None:
        rule_data = pd.DataFrame({"y": [baseline], "label": [f"{baseline_label} {baseline:.4g}"]})
        rule = alt.Chart(rule_data).mark_rule(strokeDash=[6, 4], color="gray").encode(y="y:Q", tooltip=["label:N"])
        layers.append(rule)
    return alt.layer(*layers).properties(title=title, width=WIDTH, height=280)


def heatmap(
    data: pd.DataFrame, *, x: str, y: str, value: str, title: str, x_title: str, y_title: str, value_title: str
) -> alt.Chart:
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(f"{x}:O", title=x_title),
            y=alt.Y(f"{y}:N", title=y_title),
            color=alt.Color(f"{value}:Q", title=value_title, scale=alt.Scale(domain=[0, 1], scheme="viridis")),
            tooltip=[
                alt.Tooltip(f"{y}:N", title=y_title),
                alt.Tooltip(f"{x}:O", title=x_title),
                alt.Tooltip(f"{value}:Q", title=value_title, format=".3f"),
            ],
        )
        .properties(title=title, width=WIDTH, height=max(120, 40 * data[y].nunique()))
    )


def bar_chart(data: pd.DataFrame, *, value_title: str, title: str) -> alt.Chart:
    """One bar per configuration with its band as whiskers (columns config, mean, lo, hi)."""
    base = alt.Chart(data).encode(y=alt.Y("config:N", title=None, sort=None))
    bars = base.mark_bar().encode(
        x=alt.X("mean:Q", title=value_title),
        color=alt.Color("config:N", legend=None),
        tooltip=[
            alt.Tooltip("config:N"),
            alt.Tooltip("mean:Q", format=".4g"),
            alt.Tooltip("lo:Q", format=".4g"),
            alt.Tooltip("hi:Q", format=".4g"),
        ],
    )
    whiskers = base.mark_rule(color="black").encode(x="lo:Q", x2="hi:Q")
    return alt.layer(bars, whiskers).properties(title=title, width=WIDTH, height=max(100, 28 * len(data)))
