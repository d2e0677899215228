"""A self-contained HTML report of one study: verdict, charts (inline SVG), tables,
configuration, plugin versions and review notes. No scripts, no network: it opens offline."""

from __future__ import annotations

import datetime
import html
import json

import pandas as pd

from ablab.core.lab.results import summary
from ablab.core.lab.verdicts import stored_verdict
from ablab.dashboard import charts
from ablab.dashboard.data import band, band_caption, config_labels, load_study, with_config

VERDICT_CLASS = {True: "holds", False: "fails", None: "inconclusive"}  # CSS class of a verdict

STYLE = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}.holds{color:#1a7f37}.fails{color:#b42318}.inconclusive{color:#9a6700}pre{background:#f6f6f6;padding:1em;overflow-x:auto}
figure{margin:1.5em 0}
"""


def svg(chart) -> str:
    import vl_convert

    spec = chart.properties(width=760).to_dict()
    return vl_convert.vegalite_to_svg(spec)


def build_report(store, study: str) -> str:
    data = load_study(store, study)
    runs = data["runs"]
    if runs.empty:
        raise ValueError(f"study {study!r} has no runs in {store.display_url}")
    spec = store.study_spec(study) or {}
    meta = spec.get("study", {})
    parts = [f"<h1>{html.escape(study)}</h1>"]
    if meta.get("claim"):
        parts.append(f"<p><b>Claim.</b> {html.escape(meta['claim'])}</p>")
    if meta.get("description"):
        parts.append(f"<p>{html.escape(meta['description'])}</p>")
    counts = runs["status"].value_counts().to_dict()
    parts.append(f"<p>{len(runs)} runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + "</p>")
    checks = spec.get("checks", [])
    if checks:
        v = stored_verdict(store, study)  # the same evidence as `ablab claims` and the Claims page
        parts.append(f"<h2>Verdict: <span class='{VERDICT_CLASS[v.holds]}'>{html.escape(v.label)}</span></h2><ul>")
        for c in v.checks:
            parts.append(f"<li><b>{c.label}</b>: {html.escape(c.what)}<br><code>{html.escape(c.text)}</code></li>")
        parts.append("</ul>")
    parts.append("<h2>Configurations (mean and 95% interval over seeds)</h2>")
    parts.append(summary(runs).to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="", border=0))
    labels = config_labels(runs)
    metrics = with_config(data["metrics"], runs, labels)
    loss = metrics[metrics["name"] == "loss"]
    if len(loss):
        b = band(loss.rename(columns={"step": "x0"}), "x0")
        parts.append(
            "<figure>"
            + svg(charts.band_chart(b, x_title="step", y_title="training loss", title="Loss"))
            + f"<figcaption>{html.escape(band_caption(b))}</figcaption></figure>"
        )
    probes = with_config(data["probes"], runs, labels)
    gtt = probes[(probes["probe"] == "grad_through_time") & (probes["name"] == "norm")] if len(probes) else probes
    if len(gtt):
        first = gtt[gtt["step"] == gtt["step"].min()].rename(columns={"idx": "lag"})
        b = band(first, "lag")
        b = b[b["mean"] > 0]
        parts.append(
            "<figure>"
            + svg(
                charts.band_chart(
                    b, x_title="lag", y_title="||dL/dh_k||", title="Gradient through time at initialisation", log_y=True
                )
            )
            + "</figure>"
        )
    versions = sorted({f"{k} {v}" for r in store.runs_of(study) for k, v in r["versions"].items()})
    if versions:
        parts.append("<h2>Plugin versions</h2><ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in versions) + "</ul>")
    parts.append("<h2>Configuration</h2><pre>" + html.escape(json.dumps(spec, indent=2)) + "</pre>")
    reviews = store.reviews_of(study)
    parts.append("<h2>Review notes</h2>")
    if reviews:
        frame = pd.DataFrame(reviews)
        frame["time"] = frame["created_at"].map(lambda t: datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M"))
        parts.append(frame[["time", "author", "verdict", "note"]].to_html(index=False, border=0))
    else:
        parts.append("<p>No notes yet.</p>")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>ablab: {html.escape(study)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}<p><small>ablab report, {stamp}</small></p></body></html>"
    )
