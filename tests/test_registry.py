"""Plugin registry: lookup, duplicates, broken plugins in lenient and strict mode, entry points."""

import json
import subprocess
import sys
import textwrap
import types

import pytest

from ablab.core.engine.activation import Activation
from ablab.core.errors import ConfigError, PluginError, UnknownPluginError
from ablab.core.plugin_system.registry import KINDS, build_registry
from ablab.plugin import hookimpl

BUILTIN_NAMES = {
    "cell": {"rnn", "lstm", "lstm-peephole", "lstm-cifg", "gru"},
    "activation": {
        "identity",
        "sigmoid",
        "hard_sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "softplus",
        "swish",
    },
    "initializer": {"normal", "uniform", "xavier", "he", "orthogonal", "identity"},
}


def plugin_module(name, **hooks):
    """A fake plugin: a module object with the given hook implementations."""
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        fn.__name__ = hook_name
        setattr(module, hook_name, hookimpl(fn))
    return module


@pytest.fixture
def cube_plugin():
    """A well-formed third-party plugin registering one activation."""

    def register_activations(register):
        register("cube", Activation("cube", lambda x: x**3, lambda x, y: 3 * x**2, "x^3"))

    return plugin_module("cube_plugin", register_activations=register_activations)


def test_builtins_are_registered(builtin_registry):
    for kind, names in BUILTIN_NAMES.items():
        assert names <= set(builtin_registry.names(kind))
    entry = builtin_registry.entry("cell", "lstm")
    assert entry.provider == "ablab" and entry.version and entry.summary


def test_unknown_name_lists_available(builtin_registry):
    with pytest.raises(UnknownPluginError) as info:
        builtin_registry.get("cell", "lstmm")
    message = str(info.value)
    assert "'lstmm'" in message and "gru" in message and "rnn" in message


def test_an_option_error_names_the_plugin_as_registered(builtin_registry):
    """A preset's class is LSTMPreset and a task's is Recall: the user wrote 'lstm-peephole'."""
    with pytest.raises(ConfigError, match=r"^cell 'lstm-peephole' has no option 'forget_biass' \(did you mean"):
        builtin_registry.create("cell", "lstm-peephole", builtin_registry, forget_biass=1.0)
    with pytest.raises(ConfigError, match=r"^task 'recall' option 'max_lag' must be a whole number"):
        builtin_registry.create("task", "recall", max_lag=2.5)
    # a task's own check that already names it is left as written
    with pytest.raises(ConfigError, match=r"^task recall: need 0 <= min_lag <= max_lag, got 5 and 2$"):
        builtin_registry.create("task", "recall", min_lag=5, max_lag=2)


def test_a_plugin_check_that_names_nobody_is_prefixed_with_its_name():
    from ablab.core.engine.task import Task

    class Grumpy(Task):
        def check(self):
            raise ConfigError("length must be odd")

        def batch(self, rng, batch_size):
            raise AssertionError("never built")

    def register_tasks(register):
        register("grumpy", Grumpy)

    registry = build_registry(
        builtins=False, entry_points=False, extra=[(plugin_module("g", register_tasks=register_tasks), "g", "1")]
    )
    with pytest.raises(ConfigError, match=r"^task 'grumpy': length must be odd$"):
        registry.create("task", "grumpy")


def test_unknown_kind_lists_kinds(builtin_registry):
    with pytest.raises(UnknownPluginError, match="kinds are: cell, activation"):
        builtin_registry.get("cells", "lstm")


def test_fake_plugin_registers_with_its_provider(cube_plugin):
    registry = build_registry(entry_points=False, extra=[(cube_plugin, "cube-dist", "2.0")])
    entry = registry.entry("activation", "cube")
    assert (entry.provider, entry.version, entry.summary) == ("cube-dist", "2.0", "x^3")
    assert registry.failures == []


def test_duplicate_name_names_both_providers(cube_plugin):
    def register_activations(register):
        register("tanh", Activation("tanh", lambda x: x, lambda x, y: x, "impostor"))

    dup = plugin_module("dup", register_activations=register_activations)
    registry = build_registry(entry_points=False, extra=[(dup, "dup-dist", "1.0")], strict=False)
    (failure,) = registry.failures
    assert (
        "'ablab'" in failure.error
        and "'dup-dist'" in failure.error
        and "duplicate activation name 'tanh'" in failure.error
    )
    assert registry.get("activation", "tanh").summary.startswith("hyperbolic")  # the built-in is kept
    with pytest.raises(PluginError, match="duplicate activation name 'tanh'"):
        build_registry(entry_points=False, extra=[(dup, "dup-dist", "1.0")], strict=True)


def test_a_clash_drops_only_the_clashing_name(cube_plugin):
    def register_activations(register):
        register("tanh", Activation("tanh", lambda x: x, lambda x, y: x, "impostor"))
        register("cube2", Activation("cube2", lambda x: x**3, lambda x, y: 3 * x**2, "x^3"))

    dup = plugin_module("dup", register_activations=register_activations)
    registry = build_registry(entry_points=False, extra=[(dup, "dup-dist", "1.0")], strict=False)
    assert registry.entry("activation", "cube2").provider == "dup-dist"  # the hook's other name stays
    assert registry.entry("activation", "tanh").provider == "ablab"
    (failure,) = registry.failures
    assert "duplicate activation name 'tanh'" in failure.error and "skipped" in failure.error


def test_a_missing_name_says_which_plugins_failed_to_load():
    def register_cells(register):
        raise ImportError("No module named 'torch'")

    bad = plugin_module("bad", register_cells=register_cells)
    registry = build_registry(entry_points=False, extra=[(bad, "ablab-boom", "0.1")], strict=False)
    with pytest.raises(UnknownPluginError) as info:
        registry.get("cell", "boom")
    message = str(info.value)
    assert message.startswith("no cell named 'boom'; 1 plugin failed to load: ablab-boom (register_cells raised")
    assert "No module named 'torch'" in message and "available cells: gru" in message


def test_raising_hook_is_recorded_and_skipped(cube_plugin):
    def register_cells(register):
        raise RuntimeError("boom in my cell plugin")

    bad = plugin_module("bad", register_cells=register_cells)
    registry = build_registry(
        entry_points=False, extra=[(bad, "bad-dist", "0.1"), (cube_plugin, "cube-dist", "2.0")], strict=False
    )
    (failure,) = registry.failures
    assert failure.provider == "bad-dist" and failure.kind == "cell" and "boom in my cell plugin" in failure.error
    assert "cube" in registry.names("activation") and "lstm" in registry.names("cell")


def test_invalid_object_is_rejected_at_registration():
    def register_cells(register):
        register("notacell", object())

    bad = plugin_module("bad", register_cells=register_cells)
    registry = build_registry(entry_points=False, extra=[(bad, "bad-dist", "0.1")], strict=False)
    (failure,) = registry.failures
    assert "notacell" in failure.error and "subclass of ablab.core.engine.cell.Cell" in failure.error


def test_strict_mode_from_environment(monkeypatch):
    def register_tasks(register):
        raise ValueError("broken task")

    bad = plugin_module("bad", register_tasks=register_tasks)
    monkeypatch.setenv("ABLAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken task"):
        build_registry(entry_points=False, extra=[(bad, "bad-dist", "0.1")])
    monkeypatch.setenv("ABLAB_STRICT_PLUGINS", "0")
    assert build_registry(entry_points=False, extra=[(bad, "bad-dist", "0.1")]).failures


@pytest.fixture
def broken_distribution(tmp_path, monkeypatch):
    """A real installed distribution (dist-info on sys.path) whose entry point fails to import."""
    site = tmp_path / "site"
    (site / "brokenplug-0.3.dist-info").mkdir(parents=True)
    (site / "brokenplug-0.3.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: brokenplug\nVersion: 0.3\n"
    )
    (site / "brokenplug-0.3.dist-info" / "entry_points.txt").write_text("[ablab]\nbroken = brokenplug_mod\n")
    (site / "brokenplug_mod.py").write_text("import this_module_does_not_exist\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_entry_point_import_error_lenient_and_strict(broken_distribution):
    registry = build_registry(strict=False)
    failures = [f for f in registry.failures if f.provider == "brokenplug"]
    assert len(failures) == 1 and failures[0].version == "0.3"
    assert "this_module_does_not_exist" in failures[0].error
    assert "lstm" in registry.names("cell")
    with pytest.raises(PluginError, match="brokenplug"):
        build_registry(strict=True)


def test_example_plugin_is_discovered_through_its_entry_point(registry):
    entry = registry.entry("cell", "mgu")
    assert entry.provider == "ablab-mgu"
    assert type(entry.obj).__module__ != "ablab" and entry.obj.__module__ == "ablab_mgu"


def test_cli_plugins_json_lists_builtins_and_example():
    out = subprocess.run(
        [sys.executable, "-m", "ablab.core.cli", "plugins", "--json"], capture_output=True, text=True, check=True
    )
    rows = json.loads(out.stdout)
    assert all(set(r) == {"kind", "name", "provider", "version", "status", "summary"} for r in rows)
    assert {r["kind"] for r in rows} <= set(KINDS)
    names = {(r["kind"], r["name"], r["provider"]) for r in rows}
    assert ("cell", "lstm", "ablab") in names and ("cell", "mgu", "ablab-mgu") in names


def test_cli_plugins_shows_failed_plugin(broken_distribution):
    env_code = textwrap.dedent(
        f"""
        import sys; sys.path.insert(0, {str(broken_distribution)!r})
        from ablab.core.cli.main import main
        sys.exit(main(["plugins", "--json"]))
        """
    )
    out = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, check=True)
    failed = [r for r in json.loads(out.stdout) if r["status"] == "failed"]
    assert failed and failed[0]["provider"] == "brokenplug" and "this_module_does_not_exist" in failed[0]["summary"]


def subcommands():
    from ablab.core.cli.main import build_parser

    (action,) = [a for a in build_parser()._actions if a.dest == "command"]
    return sorted(action.choices)


@pytest.mark.parametrize("argv", [["--help"]] + [[name, "--help"] for name in subcommands()])
def test_help_works(argv):
    out = subprocess.run([sys.executable, "-m", "ablab.core.cli", *argv], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: ablab" in out.stdout


def test_embedding_hook_registers_through_the_registry():
    import numpy as np

    from ablab.core.engine.embedding import Embedding

    class Table(Embedding):
        """A fixed lookup table."""

        defaults = {"dim": 2}

        def forward(self, p, tokens):
            return np.zeros(tokens.shape + (2,))

    def register_embeddings(register):
        register("table", Table)
        register("not-an-embedding", object)

    plugin = plugin_module("emb", register_embeddings=register_embeddings)
    registry = build_registry(entry_points=False, extra=[(plugin, "emb-dist", "1.0")])
    (failure,) = registry.failures  # the whole hook call is rejected, naming the bad object
    assert "not-an-embedding" in failure.error and "subclass of ablab.core.engine.embedding.Embedding" in failure.error

    def register_good(register):
        register("table", Table)

    good = plugin_module("emb2", register_embeddings=register_good)
    registry = build_registry(entry_points=False, extra=[(good, "emb-dist", "1.0")])
    entry = registry.entry("embedding", "table")
    assert entry.obj is Table and entry.provider == "emb-dist" and entry.summary == "A fixed lookup table."


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`ablab plugins --json | head -1`: the closed pipe is not a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablab.core.cli", "plugins", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the command has printed anything: its first write finds no reader
    err = proc.stderr.read()
    assert proc.wait() == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
