"""Chart axes a reader can trust at a glance: shares on 0..1, whole-number lags without half
steps, and the dashed baseline named on the chart. Checked on the SVG that Vega renders
(vl-convert, as the HTML report draws them), not only on the spec."""

import re

import pandas as pd
import pytest
import vl_convert

from ablab.dashboard import charts


def frame(xs, means, configs=("cell=rnn", "cell=lstm")) -> pd.DataFrame:
    rows = []
    for k, config in enumerate(configs):
        for x, m in zip(xs, means):
            rows.append({"config": config, "x": x, "mean": m + 0.01 * k, "lo": m - 0.02, "hi": m + 0.02, "n": 3})
    return pd.DataFrame(rows).assign(interval="95% CI")


def rendered_text(chart) -> list[str]:
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def y_scale(chart) -> dict:
    return next(v for v in chart.to_dict()["layer"] if v["mark"]["type"] == "line")["encoding"]["y"]["scale"]


@pytest.mark.parametrize("quantity", ["accuracy", "dead_fraction.activations but gates", "clipping.clip_rate"])
def test_a_share_gets_a_0_to_1_axis(quantity):
    chart = charts.band_chart(frame([0, 10, 20], [0.30, 0.35, 0.40]), x_title="step", y_title=quantity, title="t")
    assert y_scale(chart)["domain"] == [0, 1]
    labels = rendered_text(chart)
    assert "0.0" in labels and "1.0" in labels  # the whole range is drawn, not 0.28..0.42


def test_a_loss_axis_follows_its_data():
    chart = charts.band_chart(frame([0, 10, 20], [0.30, 0.35, 0.40]), x_title="step", y_title="loss", title="t")
    assert "domain" not in y_scale(chart) and y_scale(chart)["zero"] is False
    # "accuracy" above 1 is no share: its axis is not cut at 1
    over = charts.band_chart(frame([0, 1], [0.5, 1.5]), x_title="step", y_title="accuracy", title="t")
    assert "domain" not in y_scale(over)


def test_a_lag_axis_has_whole_number_ticks_only():
    lags = [1, 2, 3, 4, 5]
    chart = charts.band_chart(frame(lags, [0.9, 0.7, 0.5, 0.3, 0.2]), x_title="lag", y_title="norm", title="t")
    numbers = [float(t) for t in rendered_text(chart) if re.fullmatch(r"-?\d+(\.\d+)?", t)]
    ticks = [v for v in numbers if 1 <= v <= 5]
    assert {1.0, 5.0} <= set(ticks) and all(v == int(v) for v in ticks), ticks


def test_the_baseline_is_named_on_the_chart():
    chart = charts.band_chart(
        frame([0, 10, 20], [0.30, 0.2, 0.1]),
        x_title="step",
        y_title="loss",
        title="t",
        baseline=0.1667,
        baseline_label="trivial predictor",
    )
    assert "trivial predictor 0.167" in rendered_text(chart)
    faceted = frame([0, 10], [0.3, 0.2]).assign(facet=["cell=rnn", "cell=rnn", "cell=lstm", "cell=lstm"])
    grid = charts.band_chart(faceted, x_title="step", y_title="loss", title="t", baseline=0.2, baseline_label="b")
    assert rendered_text(grid).count("b 0.2") == 2  # once in each small multiple


def test_a_flat_line_gets_a_readable_axis():
    flat = frame([0, 10], [0.0, 0.0]).assign(mean=0.0, lo=0.0, hi=0.0)  # e.g. a memory span of 0 everywhere
    chart = charts.band_chart(flat, x_title="step", y_title="memory_span.span", title="t")
    assert y_scale(chart)["domain"] == [0, 1]
    assert "0.000000" not in rendered_text(chart)


def test_curves_reach_the_browser_light_and_whole():
    """Vega evaluates a mark's expressions once per point: the curve marks carry no per-point ARIA
    sentence, the data holds only what the marks read, rounded to 4 significant digits, and the
    band still encloses its mean."""
    data = frame([0, 10, 20], [0.123456789, 0.2, 0.3]).assign(hi=lambda f: f["mean"] + 1e-9)
    spec = charts.band_chart(data, x_title="step", y_title="loss", title="t").to_dict()
    vega = vl_convert.vegalite_to_vega(spec)
    marks = [m for m in vega["marks"] if m["type"] in ("line", "area")] + [
        m for g in vega["marks"] for m in g.get("marks", []) if m["type"] in ("line", "area")
    ]
    assert {m["type"] for m in marks} == {"line", "area"}
    assert all("description" not in m["encode"]["update"] for m in marks)
    (rows,) = spec["datasets"].values()
    assert set(rows[0]) == {"x", "config", "mean", "lo", "hi", "n"}  # the band's kind is in the page's caption
    first = next(r for r in rows if r["config"] == "cell=rnn" and r["x"] == 0)
    assert first["mean"] == 0.1235 and first["lo"] <= first["mean"] <= first["hi"]
    assert charts.significant(pd.Series([123456.0, -0.000123456, float("inf")])).tolist() == [
        123500.0,
        -0.0001235,
        float("inf"),
    ]
