"""Run: build a study from the registry or pick a built-in claim study, then launch it in a
background process. Progress is read from the store, so refreshing the page is harmless."""

import os
import time

import streamlit as st
from tomli_w import dumps

from ablab.core.errors import AblabError
from ablab.core.lab.status import ENDED
from ablab.core.lab.study import build, parse_study
from ablab.core.plugin_system.registry import default_registry
from ablab.dashboard import launcher
from ablab.dashboard.common import get_store
from ablab.studies import builtin_study_paths

st.title("Run a study")
store = get_store()
registry = default_registry()
mode = st.radio("Start from", ["Build a study", "A built-in claim study"], horizontal=True, key="run_mode")


def builder() -> tuple[str, str]:
    name = st.text_input("Study name (no spaces)", value="my-study", key="b_name").strip()
    tasks = registry.names("task")
    task_name = st.selectbox("Task", tasks, index=tasks.index("adding"), key="b_task")
    task_cls = registry.get("task", task_name)
    task = {"name": task_name}
    cols = st.columns(max(1, len(task_cls.defaults)))
    for col, (key, default) in zip(cols, task_cls.defaults.items()):
        task[key] = col.number_input(key, value=default, key=f"b_task_{key}")
    feedforward = task_cls.readout == "vector"
    axes, model = {}, {}
    if feedforward:
        model = {
            "kind": "feedforward",
            "depth": st.number_input("depth", 1, 200, 10, key="b_depth"),
            "width": st.number_input("width", 1, 1024, 32, key="b_width"),
        }
        acts = st.multiselect(
            "Activations (an axis)", registry.names("activation"), default=["relu", "tanh"], key="b_acts"
        )
        if acts:
            axes["model.activation"] = acts
        if st.checkbox("Compare with and without batch normalisation", key="b_bn"):
            axes["model.batchnorm"] = [False, True]
    else:
        model = {
            "kind": "recurrent",
            "hidden": st.number_input("hidden units", 1, 1024, 32, key="b_hidden"),
            "layers": st.number_input("layers", 1, 8, 1, key="b_layers"),
        }
        cells = st.multiselect("Cells (an axis)", registry.names("cell"), default=["rnn", "lstm", "gru"], key="b_cells")
        if cells:
            axes["model.cell"] = cells
        inits = st.multiselect(
            "Recurrent initialisers (an axis)", registry.names("initializer"), default=["orthogonal"], key="b_inits"
        )
        if len(inits) > 1:
            axes["model.recurrent_init"] = inits
        elif inits:
            model["recurrent_init"] = inits[0]
    c1, c2, c3 = st.columns(3)
    optimizer = {
        "name": c1.selectbox("Optimiser", ["adam", "sgd", "momentum", "rmsprop"], key="b_opt"),
        "lr": c2.number_input("learning rate", min_value=1e-6, value=0.01, format="%.5f", key="b_lr"),
    }
    clip_kinds = c3.multiselect("Clipping (an axis)", ["none", "norm", "value"], default=["none"], key="b_clip")
    clip = {"kind": clip_kinds[0] if clip_kinds else "none", "threshold": 1.0}
    if len(clip_kinds) > 1:
        axes["clip.kind"] = clip_kinds
    c1, c2, c3 = st.columns(3)
    train = {
        "steps": c1.number_input("steps", 1, 100000, 200, key="b_steps"),
        "batch_size": c2.number_input("batch size", 1, 4096, 32, key="b_batch"),
        "probe_every": 50,
    }
    seeds = c3.number_input("seeds", 1, 64, 3, key="b_seeds")
    probes = st.multiselect(
        "Probes", registry.names("probe"), default=["grad_through_time", "dead_fraction", "saturation"], key="b_probes"
    )
    doc = {
        "study": {"name": name, "seeds": list(range(int(seeds)))},
        "base": {"task": task, "model": model, "optimizer": optimizer, "clip": clip, "train": train, "probes": probes},
    }
    if axes:
        doc["axes"] = axes
    return name, dumps(doc)


if mode == "Build a study":
    name, text = builder()
    with st.expander("Study file"):
        st.code(text, language="toml")
else:
    paths = {p.stem: p for p in builtin_study_paths()}
    pick = st.selectbox("Claim study", sorted(paths), key="run_builtin")
    text = paths[pick].read_text()
    name = pick
    with st.expander("Study file", expanded=False):
        st.code(text, language="toml")

try:
    study = parse_study(text, f"{name}.toml", registry)
except AblabError as exc:
    st.error(str(exc))
    st.stop()

runs = study.runs(registry)
points = study.points()
workers = os.cpu_count() or 1


@st.cache_data(show_spinner="Timing a few steps...", max_entries=64)
def estimate_seconds(text: str) -> float:
    """Time 3 steps of the first configuration, scale to the study, divide by workers."""
    from ablab.core.engine.train import train

    s = parse_study(text, "estimate", registry)
    (_, config), n_cfg = s.configurations()[0], len(s.points())
    task, net, spec, _ = build(config, registry)
    started = time.perf_counter()
    if net.kind == "word2vec":  # no training steps to sample: time one seed's training
        net.fit(task, spec, s.seeds[:1], [])
        return (time.perf_counter() - started) * len(s.seeds) * n_cfg / min(workers, n_cfg)
    short = type(spec)(**{**spec.__dict__, "steps": 3})
    train(net, task, short, s.seeds)
    per_step = (time.perf_counter() - started) / 3
    return per_step * spec.steps * n_cfg / min(workers, n_cfg)


c1, c2, c3 = st.columns(3)
c1.metric("configurations", len(points))
c2.metric("runs (configurations x seeds)", len(runs))
c3.metric("estimated time", f"~{estimate_seconds(text):.0f} s")

scheduler = st.text_input(
    "Dask scheduler (optional, tcp://HOST:PORT; empty: local worker processes)", key="scheduler"
).strip()
if scheduler and not scheduler.startswith("tcp://"):
    st.error("A Dask scheduler address looks like tcp://HOST:PORT.")
    st.stop()
already = launcher.running(study.name)
if st.button("Launch", type="primary", key="launch", disabled=already is not None):
    path = launcher.write_study(study.name, text)
    pid, started = launcher.launch(study.name, path, store.url, scheduler=scheduler or None)
    st.query_params["study"] = study.name
    st.success(
        f"Started study {study.name!r} in the background (pid {pid})."
        if started
        else f"{study.name!r} is already running (pid {pid})."
    )


@st.fragment(run_every=2)
def progress() -> None:
    counts = next((s["counts"] for s in store.studies() if s["name"] == study.name), None)
    if counts is None:
        st.caption("Not in the store yet.")
        return
    total = len(runs)
    finished = sum(counts.get(k, 0) for k in ENDED)
    st.progress(
        min(finished / total, 1.0) if total else 0.0,
        text=f"{finished}/{total} runs · diverged {counts.get('diverged', 0)} · failed {counts.get('failed', 0)}"
        + (" · running" if launcher.running(study.name) else ""),
    )
    if finished >= total:
        st.page_link("views/results.py", label=f"Open the results of {study.name}", query_params={"study": study.name})


progress()
