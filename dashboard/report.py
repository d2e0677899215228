"""A self-contained HTML report of one study: verdict, charts (inline SVG), tables,
configuration, plugin versions and review notes. No scripts, no network: it opens offline."""

from __future__ import annotations

import html
import json
import time

import altair as alt
import numpy as np
import pandas as pd

from ablab.core.lab import aggregates
from ablab.core.lab.results import config_summary, result_columns
from ablab.core.lab.verdicts import stored_verdict
from ablab.dashboard import charts, series
from ablab.dashboard.data import band_caption, default_facet, short_name, stamp

VERDICT_CLASS = {True: "holds", False: "fails", None: "inconclusive"}  # CSS class of a verdict

STYLE = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}.holds{color:#1a7f37}.fails{color:#b42318}.inconclusive{color:#9a6700}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}
figure{margin:1.5em 0;overflow-x:auto}.note{border-left:3px solid #ccc;padding-left:.8em;margin:1em 0}
.note p{white-space:normal;margin:.3em 0}
"""


def svg(chart) -> str:
    import vl_convert

    faceted = isinstance(chart, alt.FacetChart)  # a facet grid sets its cells' widths itself
    spec = (chart if faceted else chart.properties(width=760)).to_dict()
    return vl_convert.vegalite_to_svg(spec)


COUNTS = ["runs", "diverged", "failed"]


def report_columns(store, study: str) -> list[str]:
    """Every column the report's table can show, read without a row per run: the axes that
    vary, the run counts, then each summary value and its interval."""
    axes = [c for c in config_summary(store, study, []).columns if c not in (*COUNTS, "point")]
    return axes + COUNTS + [c for v in result_columns(store, study) for c in (v, f"{v} ±95%")]


def headline_columns(columns: list[str]) -> list[str]:
    """A compact summary: the axes, run counts and the headline results with their intervals."""
    fixed = {*COUNTS, "final_loss", "final_loss ±95%", "final_accuracy", "final_accuracy ±95%"}
    first = columns[: columns.index("runs")] if "runs" in columns else []
    return first + [c for c in columns if c in fixed]


def figure(frame: pd.DataFrame, *, x_title: str, y_title: str, title: str, facet, log_y: bool = False) -> str:
    """A chart as inline SVG with its caption; nothing at all when there is nothing to draw."""
    if frame.empty or not np.isfinite(frame["mean"].astype(float)).any():
        return ""
    chart = charts.band_chart(
        frame, x_title=x_title, y_title=y_title, title=title, log_y=log_y, facet_title=facet and short_name(facet)
    )
    return f"<figure>{svg(chart)}<figcaption>{html.escape(band_caption(frame))}</figcaption></figure>"


def notes_html(reviews: list[dict]) -> str:
    """Review notes as text: escaped, line breaks kept."""
    items = []
    for r in reviews:
        when = stamp(r["created_at"]) + (f" (edited {stamp(r['edited_at'])})" if r.get("edited_at") else "")
        head = f"<b>{html.escape(r['author'])}</b>, {when}: <i>{html.escape(r['verdict'])}</i>"
        body = html.escape(r["note"]).replace("\r\n", "\n").replace("\n", "<br>")
        items.append(f"<div class='note'>{head}<p>{body}</p></div>")
    return "".join(items)


def build_report(store, study: str, columns: list[str] | None = None) -> str:
    """The report; its table shows `columns` (a compact headline set when None) and, like every
    part of it, is answered by the store without reading a row per run."""
    run_counts = aggregates.run_counts(store, study)
    if run_counts.empty:
        raise ValueError(f"study {study!r} has no runs in {store.display_url}")
    spec = store.study_spec(study) or {}
    meta = spec.get("study", {})
    parts = [f"<h1>{html.escape(study)}</h1>"]
    if meta.get("claim"):
        parts.append(f"<p><b>Claim.</b> {html.escape(meta['claim'])}</p>")
    if meta.get("description"):
        parts.append(f"<p>{html.escape(meta['description'])}</p>")
    counts = run_counts.groupby("status")["runs"].sum().to_dict()
    total = sum(counts.values())
    parts.append(f"<p>{total} runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + "</p>")
    checks = spec.get("checks", [])
    if checks:
        v = stored_verdict(store, study)  # the same evidence as `ablab claims` and the Claims page
        parts.append(f"<h2>Verdict: <span class='{VERDICT_CLASS[v.holds]}'>{html.escape(v.label)}</span></h2><ul>")
        for c in v.checks:
            parts.append(f"<li><b>{c.label}</b>: {html.escape(c.what)}<br><code>{html.escape(c.text)}</code></li>")
        parts.append("</ul>")
    every = report_columns(store, study)
    chosen = [c for c in (columns or headline_columns(every)) if c in every]
    values = result_columns(store, study)
    table = config_summary(store, study, sorted({c.removesuffix(" ±95%") for c in chosen} & set(values)))
    parts.append("<h2>Configurations (mean and 95% interval over seeds)</h2>")
    parts.append(
        f"<p><small>{len(chosen)} of {len(every)} columns; the dashboard's Results page and its CSV "
        "download hold them all.</small></p>"
    )
    parts.append(table[chosen].to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="", border=0))
    configs = series.configurations(list(run_counts["point"]))
    facet = default_facet(configs)
    for name, y_title in (("loss", "training loss"), ("accuracy", "accuracy")):
        stats = aggregates.metric_curve(store, study, name)
        if len(stats):
            log, _ = series.starts_on_log(stats)  # as the Results page starts: an exploding loss on a log axis
            frame = series.curves(stats, configs, facet=facet, bounds=series.bounds(name, stats), log=log)
            parts.append(
                figure(frame, x_title="step", y_title=y_title, title=y_title.capitalize(), facet=facet, log_y=log)
            )
    steps = aggregates.profile_steps(store, study, "grad_through_time.norm")
    if steps:
        stats = aggregates.probe_profile(store, study, "grad_through_time", "norm", step=steps[0])
        frame = series.curves(stats, configs, facet=facet, x="idx", log=True)
        parts.append(
            figure(
                frame,
                x_title="lag",
                y_title="||dL/dh_k||",
                title="Gradient through time at initialisation",
                facet=facet,
                log_y=True,
            )
        )
    versions = sorted({f"{k} {v}" for found in store.versions_of(study) for k, v in found.items()})
    if versions:
        parts.append("<h2>Plugin versions</h2><ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in versions) + "</ul>")
    parts.append("<h2>Configuration</h2><pre>" + html.escape(json.dumps(spec, indent=2)) + "</pre>")
    reviews = store.reviews_of(study)
    parts.append("<h2>Review notes</h2>")
    parts.append(notes_html(reviews) if reviews else "<p>No notes yet.</p>")
    made = stamp(time.time())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>ablab: {html.escape(study)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}<p><small>ablab report, {made}</small></p></body></html>"
    )
