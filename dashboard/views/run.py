"""Run: build a study from the registry or pick a built-in claim study, then launch it in a
background process. Progress is read from the store, so refreshing the page is harmless: the
link keeps ?study=NAME, and a study launched on this store under that name shows its progress
and Stop above the form again."""

import time

import streamlit as st
from tomli_w import dumps

from ablab.core.errors import AblabError
from ablab.core.lab.names import check_study_name
from ablab.core.lab.status import ENDED
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import default_registry
from ablab.dashboard import estimate, launcher
from ablab.dashboard.common import get_store
from ablab.dashboard.form import lr_warning, numbers, suggest_name, whole
from ablab.dashboard.option_fields import option_fields, option_value
from ablab.dashboard.viewstate import link_get
from ablab.studies import builtin_study_paths

st.title("Run a study")
store = get_store()
registry = default_registry()


def launched_total(name: str) -> int | None:
    """The number of runs of the study file last launched as NAME on this store (None: unreadable)."""
    try:
        return len(
            parse_study(launcher.study_file(store.url, name).read_text(), f"{name}.toml", registry).runs(registry)
        )
    except (AblabError, OSError):
        return None


@st.fragment(run_every=2)
def progress(name: str, total: int | None) -> None:
    counts = {s["name"]: s["counts"] for s in store.studies()}.get(name)
    alive = launcher.running(store.url, name)
    if counts is None:
        st.caption("Starting..." if alive else "")
        return
    total = total or sum(counts.values())
    finished = sum(counts.get(k, 0) for k in ENDED)
    since = st.session_state.get("launched", {}).get(name)
    eta = ""
    if alive and since:
        elapsed = time.time() - since["at"]
        # before the first run ends, the estimate; after, the pace so far
        left_s = elapsed / finished * (total - finished) if finished else max(since["estimate"] - elapsed, 0.0)
        eta = f" · {elapsed:.0f} s elapsed, about {left_s:.0f} s left"
    st.progress(
        min(finished / total, 1.0) if total else 0.0,
        text=f"{finished}/{total} runs · diverged {counts.get('diverged', 0)} · failed {counts.get('failed', 0)}"
        + (" · running" if alive else "")
        + eta,
    )
    if since and not alive and not since.get("done"):
        since["done"] = time.time() - since["at"]  # the page reruns once so Launch comes back
        st.rerun()
    if since and since.get("done"):
        st.caption(f"Finished in {since['done']:.0f} s (estimated ~{since['estimate']:.0f} s).")
    if finished >= total:
        st.page_link("views/results.py", label=f"Open the results of {name}", query_params={"study": name})


def stop_button(name: str, key: str, col=st) -> None:
    if col.button("Stop", key=key):
        launcher.stop(store.url, name)
        st.info(f"Stopping {name!r}: finished runs stay in the store; Launch resumes the rest.")


# After a refresh the form starts afresh, but the link still names the launched study: show it.
linked = link_get("study")  # asked for, so the link keeps it
try:
    check_study_name(linked or "")
    linked_pid = launcher.running(store.url, linked)
    restored = linked if linked_pid is not None or launcher.log_path(store.url, linked).exists() else None
    if linked in st.session_state.get("launched", {}):  # launched in this session: shown below the form
        linked_pid, restored = None, None
except AblabError:
    linked_pid, restored = None, None
if restored is not None:
    with st.container(border=True):
        st.markdown(f"**Launched from this page: `{restored}`**" + (" (running)" if linked_pid else ""))
        if linked_pid is not None:
            stop_button(restored, "stop_linked")
        progress(restored, launched_total(restored))
mode = st.radio("Start from", ["Build a study", "A built-in claim study"], horizontal=True, key="run_mode")
errors: list[str] = []  # every bad field, each one sentence; nothing launches while any is here
warnings: list[str] = []


def check(message: str | None) -> None:
    if message:
        errors.append(message)


def count(label: str, default: int, high: int, key: str, col=st) -> int:
    """A whole-number field with no silent clamping: a bad value is kept and named in a message."""
    value = col.number_input(label, value=default, step=1, key=key)
    check(whole(label, value, 1, high))
    return int(value)


def recurrent_model(axes: dict) -> tuple[dict, list[str]]:
    c1, c2 = st.columns(2)
    model = {"kind": "recurrent", "hidden": count("hidden units", 32, 1024, "b_hidden", c1)}
    model["layers"] = count("layers", 1, 8, "b_layers", c2)
    cells = st.multiselect("Cells (an axis)", registry.names("cell"), default=["rnn", "lstm", "gru"], key="b_cells")
    if not cells:
        errors.append("Cells: pick at least one cell.")
    elif len(cells) > 1:
        axes["model.cell"] = cells
    else:
        model["cell"] = cells[0]
    acts = st.multiselect(
        "Activation of the cells (an axis): rnn's activation, the LSTM's cell activation, the GRU's candidate",
        registry.names("activation"),
        key="b_cell_acts",
        placeholder="each cell's own default (tanh)",
        help="Empty: each cell's own default (tanh). Gates keep their sigmoid.",
    )
    without = [c for c in cells if getattr(registry.get("cell", c), "activation_option", None) is None]
    if acts and without:
        errors.append(
            f"Activation: cell(s) {', '.join(without)} take no activation choice; drop them or the activations."
        )
    if len(acts) > 1:
        axes["model.activation"] = acts
    elif acts:
        model["activation"] = acts[0]
    cell_options(cells, model, axes)
    inits = st.multiselect(
        "Recurrent initialisers (an axis)", registry.names("initializer"), default=["orthogonal"], key="b_inits"
    )
    if len(inits) > 1:
        axes["model.recurrent_init"] = inits
    elif inits:
        model["recurrent_init"] = inits[0]
    return model, ["grad_through_time", "dead_fraction", "mean_shift", "saturation"]


def cell_options(cells: list[str], model: dict, axes: dict) -> None:
    """Each picked cell's own options (a plugin cell's too), shown on request. Changed options
    go with their cell: one cell gets model.cell_options, several a zipped axis
    model.cell+model.cell_options, so each cell keeps its own."""
    if not cells or not st.checkbox("Change the cells' own options", key="b_cellopts"):
        return
    chosen = {}
    for cell in cells:
        cls = registry.get("cell", cell)
        # the activation has its own field above; giving it twice is refused by the engine
        defaults = {k: v for k, v in cls.defaults.items() if k != getattr(cls, "activation_option", None)}
        st.markdown(f"**{cell}**" + ("" if defaults else ": no options of its own"))
        chosen[cell] = option_fields(st, defaults, f"b_cellopt_{cell}_", registry.names("activation"))
    if not any(chosen.values()):
        return
    if len(cells) == 1:
        model["cell_options"] = chosen[cells[0]]
    else:
        del axes["model.cell"]
        axes["model.cell+model.cell_options"] = [[cell, chosen[cell]] for cell in cells]


def feedforward_model(axes: dict) -> tuple[dict, list[str]]:
    c1, c2 = st.columns(2)
    model = {"kind": "feedforward", "depth": count("depth", 10, 200, "b_depth", c1)}
    model["width"] = count("width", 32, 1024, "b_width", c2)
    acts = st.multiselect("Activations (an axis)", registry.names("activation"), default=["relu", "tanh"], key="b_acts")
    if len(acts) > 1:
        axes["model.activation"] = acts
    elif acts:
        model["activation"] = acts[0]
    if st.checkbox("Compare with and without batch normalisation", key="b_bn"):
        axes["model.batchnorm"] = [False, True]
    skip_axis(model, axes)
    return model, ["dead_fraction", "mean_shift", "layer_stats"]


# the form's names for the feedforward net's skip connections -> (model.residual, model.skipinit)
SKIPS = {"none": (False, False), "residual": (True, False), "residual + SkipInit": (True, True)}


def skip_axis(model: dict, axes: dict) -> None:
    """Skip connections as an axis: residual and skipinit move together (a zipped axis)."""
    skips = st.multiselect(
        "Skip connections (an axis)",
        list(SKIPS),
        default=["none"],
        key="b_skips",
        help="residual: h + f(h) around every hidden layer after the first. SkipInit: each branch "
        "scaled by a learnable scalar starting at 0 (De and Smith 2020), so a deep residual net starts stable.",
    )
    if not skips:
        errors.append("Skip connections: pick at least one (none for a plain net).")
    elif len(skips) > 1:
        axes["model.residual+model.skipinit"] = [list(SKIPS[s]) for s in skips]
    elif skips != ["none"]:
        model["residual"], model["skipinit"] = SKIPS[skips[0]]


def builder() -> tuple[str, str | None]:
    name = st.text_input("Study name (letters, digits, _ and -)", value="my-study", key="b_name").strip()
    try:
        check_study_name(name)
    except AblabError as exc:
        errors.append(f"Study name: {exc}")
    tasks = registry.names("task")
    task_name = st.selectbox("Task", tasks, index=tasks.index("adding"), key="b_task")
    task_cls = registry.get("task", task_name)
    task = {"name": task_name}
    cols = st.columns(max(1, len(task_cls.defaults)))
    # every task option is written, changed or not, so a study launched before keeps its run keys
    for col, (key, default) in zip(cols, task_cls.defaults.items()):
        task[key] = option_value(col, key, default, f"b_task_{key}", registry.names("activation"))
    axes: dict = {}
    model, probe_defaults = (feedforward_model if task_cls.readout == "vector" else recurrent_model)(axes)
    c1, c2 = st.columns(2)
    optimizer = {"name": c1.selectbox("Optimiser", ["adam", "sgd", "momentum", "rmsprop"], key="b_opt")}
    rates, problem = numbers("Learning rate", c2.text_input("Learning rates (several: an axis)", "0.01", key="b_lr"))
    check(problem)
    warnings.append(lr_warning(rates))
    optimizer["lr"] = rates[0] if rates else 0.01
    if len(rates) > 1:
        axes["optimizer.lr"] = rates
    c1, c2 = st.columns(2)
    clip_kinds = c1.multiselect("Clipping (an axis)", ["none", "norm", "value"], default=["none"], key="b_clip")
    thresholds, problem = numbers(
        "Clip threshold", c2.text_input("Clip thresholds (several: an axis)", "1.0", key="b_thr")
    )
    check(problem)
    clip = {"kind": clip_kinds[0] if clip_kinds else "none", "threshold": thresholds[0] if thresholds else 1.0}
    if len(clip_kinds) > 1:
        axes["clip.kind"] = clip_kinds
    if len(thresholds) > 1:
        axes["clip.threshold"] = thresholds
    c1, c2, c3, c4 = st.columns(4)
    steps = count("steps", 200, 1_000_000, "b_steps", c1)
    train = {"steps": steps, "batch_size": count("batch size", 32, 4096, "b_batch", c2)}
    train["probe_every"] = count("probe every (steps)", 50, 1_000_000, "b_probe_every", c3)
    seeds = count("seeds", 3, 64, "b_seeds", c4)
    probes = st.multiselect("Probes", registry.names("probe"), default=probe_defaults, key="b_probes")
    base = {"task": task, "model": model, "optimizer": optimizer, "clip": clip, "train": train, "probes": probes}
    if st.checkbox(
        "Gradient check",
        key="b_gradcheck",
        help="Also check each configuration's backward pass against finite differences in float64 "
        "(a plugin cell's author wants this); `ablab run` warns of any that fails, and the "
        "gradcheck_error column holds each error.",
    ):
        base["gradcheck"] = True
    doc = {"study": {"name": name, "seeds": list(range(max(seeds, 1)))}, "base": base}
    if axes:
        doc["axes"] = axes
    return name, None if errors else dumps(doc)


if mode == "Build a study":
    name, text = builder()
    if text is not None:
        with st.expander("Study file"):
            st.code(text, language="toml")
else:
    paths = {p.stem: p for p in builtin_study_paths()}
    pick = st.selectbox("Claim study", sorted(paths), key="run_builtin")
    text = paths[pick].read_text()
    with st.expander("Study file", expanded=False):
        st.code(text, language="toml")
    name = None

for message in errors:
    st.error(message)
for message in filter(None, warnings):
    st.warning(message)
if text is None:
    st.stop()
try:
    study = parse_study(text, f"{name or 'study'}.toml", registry)
except AblabError as exc:
    st.error(str(exc))
    st.stop()

runs = study.runs(registry)
configurations = study.configurations()
workers = estimate.default_workers()


@st.cache_data(show_spinner="Timing a few steps of each model shape (once)...", max_entries=256)
def shape_speed(shape: str, n_seeds: int, _config: dict) -> estimate.Speed:
    """Keyed by the shape alone (the config argument is not hashed): measured once per shape."""
    return estimate.measure(_config, n_seeds, registry)


@st.cache_data(show_spinner="Timing the start-up of a run (once per task and cells)...", max_entries=64)
def startup(key: str, _config: dict) -> float:
    """Keyed by what the start-up imports (task and cells), not by the whole configuration."""
    return estimate.startup_seconds(_config)


def study_estimate() -> float:
    def speed_of(config: dict, n_seeds: int) -> estimate.Speed:
        return shape_speed(estimate.shape_key(config), n_seeds, config)

    first = configurations[0][1]
    seconds = startup(estimate.startup_key(configurations), first)
    return estimate.study_estimate(configurations, len(study.seeds), speed_of, seconds, workers)


c1, c2, c3 = st.columns(3)
c1.metric("configurations", len(configurations))
c2.metric("runs (configurations x seeds)", len(runs))
try:
    seconds = study_estimate()
    c3.metric(
        "estimated time",
        f"~{seconds:.0f} s",
        help=f"from measured speed: each model shape timed once, {workers} worker processes, "
        f"{estimate.free_cores()} core(s) free now",
    )
except AblabError as exc:  # a configuration the registry cannot build: say which, launch nothing
    st.error(str(exc))
    st.stop()

scheduler = st.text_input(
    "Dask scheduler (optional, tcp://HOST:PORT; empty: local worker processes)", key="scheduler"
).strip()
if scheduler and not scheduler.startswith("tcp://"):
    st.error("A Dask scheduler address looks like tcp://HOST:PORT.")
    st.stop()

stored = {s["name"]: s["counts"] for s in store.studies()}
pid = launcher.running(store.url, study.name)
launched_here = st.session_state.get("launched", {}).get(study.name)
resolved = True
if study.name in stored and pid is None and launched_here is None:
    held = sum(stored[study.name].values())
    choice = st.radio(
        f"A study named {study.name!r} is already in the store ({held} runs). Launching:",
        [
            "resume it: runs with the same configuration and seed are kept, the rest run, its file becomes this one",
            "use a new name",
        ],
        index=None,
        key=f"existing_{study.name}",
    )
    if choice is None or choice.startswith("use"):
        resolved = False
        st.info(
            f"Pick 'resume' to add to {study.name!r}, or change the name above (for example "
            f"{suggest_name(study.name, set(stored))!r})."
        )

left, right = st.columns([1, 5])
if left.button("Launch", type="primary", key="launch", disabled=pid is not None or not resolved):
    path = launcher.write_study(store.url, study.name, text)
    pid, started = launcher.launch(store.url, study.name, path, scheduler=scheduler or None)
    st.session_state.setdefault("launched", {})[study.name] = {"at": time.time(), "estimate": seconds}
    st.query_params["study"] = study.name
    st.rerun()  # redraw with Launch disabled and Stop shown
if pid is not None and study.name != restored:  # a restored study has its Stop above
    stop_button(study.name, "stop", right)


if study.name != restored and (pid is not None or launched_here is not None or resolved and study.name in stored):
    progress(study.name, len(runs))
