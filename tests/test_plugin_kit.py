"""The plugin authoring kit: scaffold, contract checks with clear failures, docs coverage."""

import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ablab.core.errors import ConfigError
from ablab.core.plugin_system import hookspecs
from ablab.core.plugin_system.kinds import KINDS as KINDS_TABLE
from ablab.core.plugin_system.registry import Entry, build_registry, registry_with
from ablab.core.plugin_system.scaffold import KINDS, new_plugin
from ablab.core.plugin_system.testing import ContractError, check_cell, check_plugin, check_task

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("kind", KINDS)
def test_scaffold_of_every_kind_passes_the_contract(tmp_path, monkeypatch, kind):
    root = new_plugin(f"demo-{kind}", kind, tmp_path)
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module(f"ablab_demo_{kind}")
    registry = build_registry(entry_points=False, extra=[(module, f"ablab-demo-{kind}", "0.1.0")], strict=True)
    assert check_plugin(kind, f"demo-{kind}", registry)
    text = (root / "pyproject.toml").read_text()
    assert f'demo-{kind} = "ablab_demo_{kind}"' in text and "[project.entry-points.ablab]" in text
    assert (root / "tests" / f"test_ablab_demo_{kind}.py").exists() and (root / "README.md").exists()


def child_environment(path: Path) -> str:
    """A virtual environment that sees this one's packages (ablab, pytest, the examples) through a .pth
    file: what is installed into it stays out of this environment, which other test workers share."""
    import site
    import venv

    venv.create(path, with_pip=False)
    python = str(path / "bin" / "python")
    ask = [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    purelib = subprocess.run(ask, capture_output=True, text=True, check=True).stdout.strip()
    lines = "; ".join(f"site.addsitedir({p!r})" for p in site.getsitepackages())
    Path(purelib, "parent-environment.pth").write_text(f"import site; {lines}\n")
    return python


def test_scaffolded_cell_installs_and_its_tests_pass(tmp_path):
    root = new_plugin("kit-cell", "cell", tmp_path)
    python = child_environment(tmp_path / "env")
    # as a user would: pip's isolated build, an editable install
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "-e", str(root)]
    subprocess.run(pip, check=True)
    tests = subprocess.run([python, "-m", "pytest", "-q", str(root)], capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    listing = json.loads(
        subprocess.run(
            [python, "-m", "ablab.core.cli", "plugins", "--json"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert any(r["name"] == "kit-cell" and r["provider"] == "ablab-kit-cell" and r["status"] == "ok" for r in listing)
    check = subprocess.run(
        [python, "-m", "ablab.core.cli", "check-plugin", "cell", "kit-cell"], capture_output=True, text=True
    )
    assert check.returncode == 0 and "passes the ablab contract" in check.stdout
    # this environment never saw it
    here = subprocess.run([sys.executable, "-m", "ablab.core.cli", "plugins", "--json"], capture_output=True, text=True)
    assert "kit-cell" not in here.stdout and here.returncode == 0


def test_scaffold_rejects_bad_names_and_existing_folders(tmp_path):
    with pytest.raises(ConfigError, match="lowercase letters"):
        new_plugin("My Cell", "cell", tmp_path)
    new_plugin("twice", "cell", tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        new_plugin("twice", "cell", tmp_path)
    with pytest.raises(ConfigError, match="--kind must be one of cell, activation, embedding"):
        new_plugin("emb", "embeddings", tmp_path)


def test_one_package_registers_several_kinds_and_its_readme_explains_each_hook(tmp_path, monkeypatch):
    kinds = ["cell", "activation", "embedding", "probe"]
    root = new_plugin("mish", kinds, tmp_path)
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module("ablab_mish")
    registry = registry_with(module)
    for kind in kinds:
        assert check_plugin(kind, "mish", registry), kind
    readme = (root / "README.md").read_text()
    for kind in kinds:
        hook = KINDS_TABLE[kind].hook
        assert f"`{hook}(register)`" in readme and f"ablab check-plugin {kind} mish" in readme
    source = (root / "ablab_mish" / "__init__.py").read_text() + (root / "tests" / "test_ablab_mish.py").read_text()
    assert "ablab.core" not in source  # a plugin imports only the public API
    ruff = [sys.executable, "-m", "ruff"]
    lint = subprocess.run(
        [*ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP", "--line-length", "120", "."],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout  # what an author gets is already clean
    fmt = subprocess.run([*ruff, "format", "--isolated", "--line-length", "120", "--check", "."], cwd=root)
    assert fmt.returncode == 0
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root)], capture_output=True, text=True
    )
    assert tests.returncode == 0 and "4 passed" in tests.stdout, tests.stdout + tests.stderr


def replacing(name, cls, kind="cell"):
    registry = build_registry(entry_points=False)
    registry.entries[(kind, name)] = Entry(kind, name, cls, "test", "0")
    return registry


RNN = build_registry(entry_points=False).get("cell", "rnn")


class WrongBackward(RNN):
    def backward_step(self, p, dstate, cache, grads, out):
        da, dprev = super().backward_step(p, dstate, cache, grads, out)
        da *= 1.01
        return da, dprev


class MixesMembers(RNN):
    def step_z(self, p, z, state, recompute):  # the RNN is fused: the model steps through step_z
        (h,), cache = super().step_z(p, z, state, recompute)
        return (h + h.mean(axis=0, keepdims=True) * 0.1,), cache  # leaks across the ensemble axis


class ChangesStepAlone(RNN):
    def step(self, p, a, state):  # the model calls step_z, so this change would be silently skipped
        (h,), cache = super().step(p, a, state)
        return (h * 0.5,), cache


class IgnoresOut(RNN):
    def backward_step(self, p, dstate, cache, grads, out):
        return super().backward_step(p, dstate, cache, grads, np.empty_like(out))  # never writes out


LSTM = build_registry(entry_points=False).get("cell", "lstm")


class WrongChunkBackward(LSTM):  # promise 6's signature: ablab keeps one product per chunk for it
    def backward_steps(self, p, dstate, tape, start, end, dhs, window, da):
        dstate_prev = super().backward_steps(p, dstate, tape, start, end, dhs, window, da)
        da *= 1.01  # the compiled chunk path only: backward_step stays right
        return dstate_prev


class WrongChunkSums(LSTM):  # promise 8: its sums are wrong
    def backward_steps(self, p, dstate, tape, start, end, dhs, window, da, rows=None, sums=None):
        dstate_prev = super().backward_steps(p, dstate, tape, start, end, dhs, window, da, rows, sums)
        sums *= 1.01
        return dstate_prev


class WrongWholeForward(LSTM):
    def forward_steps(self, p, XH, WbU, tape):
        return super().forward_steps(p, XH, WbU * 1.01, tape)  # training's forward only: step_z stays right


class ProbesTheWrongPoint(RNN):
    def activation_values(self, cache):
        return [(name, act, pre * 2, post) for name, act, pre, post in super().activation_values(cache)]


class Float64(RNN):
    def step(self, p, a, state):
        (h,), cache = super().step(p, a, state)
        return (h.astype(np.float64),), cache


@pytest.mark.parametrize(
    "cls,message",
    [
        (WrongBackward, "float64 gradient check"),
        (MixesMembers, "ensemble-member independence"),
        (ChangesStepAlone, "step_z(p, z, ...) disagrees with step(p, a, ...)"),
        (Float64, "turned float32 state 'h' into float64"),
        (IgnoresOut, "must write da_t into out and return it"),
        (WrongChunkBackward, "backward_steps gives another gradient of"),
        (WrongChunkSums, "backward_steps gives another gradient of"),
        (WrongWholeForward, "forward_steps (training's whole-layer forward) disagrees with step_z"),
        (ProbesTheWrongPoint, "f(pre) is not the output"),
    ],
)
def test_contract_failures_name_what_and_where(cls, message):
    with pytest.raises(ContractError) as info:
        check_cell("broken", registry=replacing("broken", cls))
    assert "cell 'broken'" in str(info.value) and message in str(info.value)


@pytest.mark.parametrize(
    "cell, options",
    [
        ("lstm", {}),
        ("lstm-peephole", {}),
        ("lstm-cifg", {}),
        ("lstm", {"gate_activation": "hard_sigmoid"}),
        ("gru", {}),
        ("gru", {"reset_after": True}),
        ("rnn", {"activation": "relu"}),
    ],
)
def test_builtin_cells_pass_the_plugin_contract(cell, options):
    assert check_cell(cell, options, registry=build_registry(entry_points=False))


def test_nondeterministic_task_fails_the_contract():
    adding = build_registry(entry_points=False).get("task", "adding")

    class Noisy(adding):
        def batch(self, rng, batch_size):
            b = super().batch(rng, batch_size)
            return type(b)(b.x + np.random.default_rng().normal(size=b.x.shape), b.y)

    with pytest.raises(
        ContractError, match="task 'noisy': determinism per seed: the same rng seed gave different batches"
    ):
        check_task("noisy", registry=replacing("noisy", Noisy, "task"))


def test_example_plugin_passes_the_contract_and_runs_in_a_study(tmp_path):
    from ablab.core.lab.runner import run_study
    from ablab.core.lab.store import Store
    from ablab.core.lab.study import parse_study

    registry = build_registry()
    assert check_cell("mgu", registry=registry)
    study = parse_study(
        '[study]\nname = "mgu"\nseeds = [0]\n[base]\ntask = { name = "adding", length = 5 }\n'
        'model = { cell = "mgu", hidden = 4 }\ntrain = { steps = 5, batch_size = 4 }\n',
        "mgu.toml",
        registry,
    )
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    assert run_study(study, registry, store, workers=0).done == 1


HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"## {hook}(register)" in docs, f"docs/plugins.md has no section for {hook}"
    assert re.search(rf"def {hook}\(register\)", docs), f"docs/plugins.md has no example implementing {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_exercised_by_a_test(hook, tmp_path):
    """A hook is exercised when another test file implements it, or when the package that
    ablab new-plugin writes implements it (test_scaffold_of_every_kind_passes_the_contract
    loads every scaffold through the registry and checks what it registered)."""
    used = [
        p.name
        for p in (ROOT / "tests").glob("test_*.py")
        if p.name != "test_plugin_kit.py" and f"def {hook}(register)" in p.read_text()
    ]
    kind = hook.removeprefix("register_")[:-1]
    scaffolded = False
    if kind in KINDS:
        root = new_plugin(f"hook-{kind}", kind, tmp_path)
        scaffolded = f"def {hook}(register)" in (root / f"ablab_hook_{kind}" / "__init__.py").read_text()
    assert used or scaffolded, f"no test registers a plugin through {hook}"


def test_an_activation_whose_derivative_needs_its_input_cannot_claim_deriv_from_output():
    from ablab.core.engine.activation import Activation
    from ablab.core.plugin_system.testing import check_activation

    relu = Activation(
        "bad-relu", lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(x.dtype), "relu", deriv_from_output=True
    )
    with pytest.raises(ContractError, match="deriv_from_output is set but deriv\\(None, y\\) fails"):
        check_activation("bad-relu", registry=replacing("bad-relu", relu, "activation"))
    honest = Activation("ok-relu", relu.fn, lambda x, y: (y > 0).astype(y.dtype), "relu", deriv_from_output=True)
    assert check_activation("ok-relu", registry=replacing("ok-relu", honest, "activation"))


def test_a_fused_cell_must_implement_what_it_declares():
    from ablab.core.engine.cell import validate_plugin
    from ablab.core.engine.fused_cell import FusedCell
    from ablab.core.errors import PluginError

    class NoStepZ(FusedCell):
        fused_matrix = "U"

        def recurrent_params(self, hidden):
            return {"U": None}

        def backward_step(self, p, dstate, cache, grads, out):
            return out, dstate

    class NoStep(NoStepZ):
        fused_matrix = None

    with pytest.raises(PluginError, match=r"cell 'x' \(.*NoStepZ\) does not implement step_z\(\)"):
        validate_plugin("x", NoStepZ)
    with pytest.raises(PluginError, match=r"does not implement step\(\)"):
        validate_plugin("x", NoStep)
    validate_plugin("x", type("WithStepZ", (NoStepZ,), {"step_z": lambda self, p, z, state, recompute: None}))
    with_step_z = {"step_z": lambda self, p, z, state, recompute: None}
    with pytest.raises(PluginError, match=r"cell 'x' \(.*Blocky\): block_major must be True or False, got 'yes'"):
        validate_plugin("x", type("Blocky", (NoStepZ,), {**with_step_z, "block_major": "yes"}))


def test_the_indrnn_study_runs_and_stores_the_plugins_probe(tmp_path):
    from ablab.core.lab.runner import run_study
    from ablab.core.lab.store import Store
    from ablab.core.lab.study import load_study, parse_study

    registry = build_registry()
    path = ROOT / "examples" / "ablab-indrnn" / "indrnn_adding.toml"
    full = load_study(path, registry)
    assert len(full.runs(registry)) == 9 and {r.config["model"]["cell"] for r in full.runs(registry)} == {
        "indrnn",
        "rnn",
        "lstm",
    }
    small = (
        path.read_text()
        .replace("seeds = [0, 1, 2]", "seeds = [0]")
        .replace("steps = 1500", "steps = 4")
        .replace("length = 30", "length = 5")
    )
    study = parse_study(small, "small.toml", registry)
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    assert run_study(study, registry, store, workers=0).done == 3
    runs = {r["config"]["model"]["cell"]: r["key"] for r in store.runs_of("indrnn_adding")}
    probes = store.probes_of([runs["indrnn"]])
    assert {"u_mean", "u_max", "at_bound"} <= set(probes[probes["probe"] == "indrnn_u"]["name"])
    assert store.probes_of([runs["lstm"]]).query("probe == 'indrnn_u'").empty  # it applies to IndRNN only
