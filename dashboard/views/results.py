"""Results: configurations grouped over seeds, with the probes' charts."""

import streamlit as st

from ablab.core.lab.results import axis_columns, summary
from ablab.dashboard import charts
from ablab.dashboard.common import csv_download, get_store, load, study_picker
from ablab.dashboard.data import band, band_caption, config_labels, filter_runs, positive, probe_series, with_config

st.title("Results")
store = get_store()
study = study_picker(store)
if study is None:
    st.stop()
data = load(store, study)
runs = data["runs"]
if runs.empty:
    st.warning(f"Study {study!r} has no runs yet.")
    st.stop()

counts = runs["status"].value_counts().to_dict()
st.caption(" · ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + f" · {len(runs)} runs")

varying = [c for c in axis_columns(runs) if runs[c].astype(str).nunique() > 1]
names = {c: c.lstrip("@") for c in varying}
with st.expander("Group and filter", expanded=bool(varying)):
    wanted = [c for c in st.query_params.get_all("color") if "@" + c in varying]
    color_by = st.multiselect(
        "Colour by", [names[c] for c in varying], default=wanted or [names[c] for c in varying], key="color_by"
    )
    st.query_params["color"] = color_by
    filters = {}
    for c in varying:
        values = sorted(runs[c].astype(str).unique())
        chosen = [v for v in st.query_params.get_all(f"f.{names[c]}") if v in values]
        picked = st.multiselect(f"Show {names[c]}", values, default=chosen or values, key=f"filter_{c}")
        if set(picked) != set(values):
            st.query_params[f"f.{names[c]}"] = picked
        elif f"f.{names[c]}" in st.query_params:
            del st.query_params[f"f.{names[c]}"]
        filters[c] = picked

runs = filter_runs(runs, filters)
if runs.empty:
    st.info("The filters leave no runs; widen them.")
    st.stop()
labels = config_labels(runs, ["@" + c for c in color_by])
metrics = with_config(data["metrics"], runs, labels) if len(data["metrics"]) else data["metrics"]
probes = with_config(data["probes"], runs, labels) if len(data["probes"]) else data["probes"]

st.subheader("Configurations (mean and 95% interval over seeds)")
table = summary(runs)
st.dataframe(table, hide_index=True, width="stretch")
csv_download(table, f"{study}-summary", "dl_summary")


configs = sorted(labels.unique())
shared = st.query_params.get("hl")
picked = st.selectbox(
    "Highlight in every chart",
    ["none"] + configs,
    key="highlight",
    index=configs.index(shared) + 1 if shared in configs else 0,
    help="A legend click highlights within one chart; this highlights in all of them and goes into the link.",
)
highlight = None if picked == "none" else picked  # labels are "axis=value" pairs, never "none"
if highlight is None:
    st.query_params.pop("hl", None)
else:
    st.query_params["hl"] = highlight


def show(chart, frame, name: str) -> None:
    st.altair_chart(chart, width="stretch", height=360)
    csv_download(frame, f"{study}-{name}", f"dl_{name}")


def metric_band(name: str):
    sel = metrics[metrics["name"] == name] if len(metrics) else metrics
    return band(sel.rename(columns={"step": "x0"}), "x0") if len(sel) else None


left, right = st.columns(2)
with left:
    loss = metric_band("loss")
    if loss is not None:
        baseline = runs["baseline"].dropna().mean() if "baseline" in runs else None
        spread = (
            loss["mean"].max() / max(loss["mean"][loss["mean"] > 0].min(), 1e-300) if (loss["mean"] > 0).any() else 1
        )
        log_loss = st.toggle("log scale", value=bool(spread > 1e3), key="loss_log")  # exploding runs need it
        if log_loss:
            loss["mean"], loss["lo"], loss["hi"] = positive(loss["mean"]), positive(loss["lo"]), positive(loss["hi"])
        show(
            charts.band_chart(
                loss,
                x_title="step",
                y_title="training loss",
                title="Loss",
                baseline=baseline,
                baseline_label="trivial predictor",
                log_y=log_loss,
                highlight=highlight,
            ),
            loss,
            "loss",
        )
with right:
    acc = metric_band("accuracy")
    norm = metric_band("grad_norm")
    if acc is not None:
        show(
            charts.band_chart(acc, x_title="step", y_title="accuracy", title="Accuracy", highlight=highlight),
            acc,
            "accuracy",
        )
    elif norm is not None:
        norm["mean"], norm["lo"], norm["hi"] = positive(norm["mean"]), positive(norm["lo"]), positive(norm["hi"])
        show(
            charts.band_chart(
                norm,
                x_title="step",
                y_title="pre-clip gradient norm",
                title="Gradient norm",
                log_y=True,
                highlight=highlight,
            ),
            norm,
            "grad_norm",
        )
caption = band_caption(loss, acc, norm)
if caption:
    st.caption(caption)

if len(probes):
    gtt = probes[(probes["probe"] == "grad_through_time") & (probes["name"] == "norm")]
    if len(gtt):
        st.subheader("Gradient through time")
        steps = sorted(gtt["step"].unique())
        at = st.select_slider("Checkpoint", options=steps, value=steps[0], key="gtt_step")
        sub = gtt[gtt["step"] == at].rename(columns={"idx": "lag"})
        g = band(sub, "lag")
        g["mean"], g["lo"], g["hi"] = positive(g["mean"]), positive(g["lo"]), positive(g["hi"])
        show(
            charts.band_chart(
                g,
                x_title="lag from the last step (t - k)",
                y_title="||dL/dh_k||",
                title=f"Gradient norm through time at step {at}",
                log_y=True,
                highlight=highlight,
            ),
            g,
            "grad_through_time",
        )

    panels = [
        ("dead_fraction", "h", "share of dead units", "Dead units"),
        ("mean_shift", "h", "mean activation", "Mean shift"),
        ("saturation", "h", "share saturated", "Saturation"),
        ("jacobian", "jacobian_sigma_max", "top singular value of ds_t/ds_t-1", "Jacobian"),
        ("clipping", "clip_rate", "share of steps clipped", "Clip rate"),
        ("clipping", "preclip_norm_mean", "mean pre-clip norm", "Pre-clip norm"),
        ("gates", "forget_mean", "mean forget gate", "Forget gate"),
        ("gates", "update_mean", "mean update gate", "Update gate"),
        ("gates", "input_mean", "mean input gate", "Input gate"),
        ("linearity", "error", "superposition error", "Linearity"),
    ]
    present = [p for p in panels if len(probe_series(probes, p[0], p[1]))]
    config_of = dict(zip(runs["key"], labels))
    if present:
        st.subheader("Probes over training")
        cols = st.columns(2)
        for i, (probe, name, y_title, title) in enumerate(present):
            series = probe_series(probes, probe, name)
            series["config"] = series["run_key"].map(config_of)
            b = band(series, "step")
            with cols[i % 2]:
                show(
                    charts.band_chart(b, x_title="step", y_title=y_title, title=title, highlight=highlight),
                    b,
                    f"{probe}-{name}",
                )

    span = probes[(probes["probe"] == "memory_span") & (probes["name"] == "accuracy")]
    if len(span):
        st.subheader("Memory span")
        final = span[span["step"] == span["step"].max()]
        heat = (
            final.groupby(["config", "idx"], as_index=False)["value"]
            .mean()
            .rename(columns={"idx": "lag", "value": "accuracy"})
        )
        show(
            charts.heatmap(
                heat,
                x="lag",
                y="config",
                value="accuracy",
                title="Recall accuracy by lag (end of training)",
                x_title="lag",
                y_title="configuration",
                value_title="accuracy",
            ),
            heat,
            "memory_span",
        )
