"""The layers of ablab import only downward: engine <- plugin system <- lab <- dashboard, CLI on top.

A violation names the importing module, the imported one and the rule it breaks, so the fix
is to move the code to the layer it belongs to, not to relax this table.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# layer -> the ablab layers it may import (besides itself); anything outside ablab is free,
# except that nothing but the dashboard may import streamlit.
ALLOWED = {
    "ablab.core.errors": set(),
    "ablab.core.engine": {"ablab.core.errors"},
    "ablab.core.plugin_system": {"ablab.core.errors", "ablab.core.engine", "ablab.plugins"},
    "ablab.plugin": {"ablab.core.errors", "ablab.core.engine", "ablab.core.plugin_system"},
    "ablab.plugins": {"ablab.core.errors", "ablab.core.engine", "ablab.plugin"},
    "ablab.core.lab": {"ablab.core.errors", "ablab.core.engine", "ablab.core.plugin_system", "ablab.studies"},
    "ablab.dashboard": {
        "ablab.core.errors",
        "ablab.core.engine",
        "ablab.core.plugin_system",
        "ablab.core.lab",
        "ablab.studies",
    },
    "ablab.core.cli": {
        "ablab.core.errors",
        "ablab.core.engine",
        "ablab.core.plugin_system",
        "ablab.core.lab",
        "ablab.studies",
    },
    "ablab.studies": set(),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["ablab", *parts])


def layer_of(module: str) -> str | None:
    best = None
    for layer in ALLOWED:
        if (module == layer or module.startswith(layer + ".")) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def ablab_modules():
    for top in ("core", "plugins", "dashboard", "studies"):
        yield from (ROOT / top).rglob("*.py")
    yield ROOT / "plugin.py"


def imports_of(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_every_module_belongs_to_a_layer():
    assert [m for m in map(module_name, ablab_modules()) if layer_of(m) is None and m != "ablab.core"] == []


def test_imports_only_go_downward():
    broken = []
    for path in ablab_modules():
        me = module_name(path)
        mine = layer_of(me)
        if mine is None:
            continue
        for target in imports_of(path):
            if target.split(".")[0] == "streamlit" and mine != "ablab.dashboard":
                broken.append(f"{me} imports streamlit: only ablab.dashboard may")
            theirs = layer_of(target)
            if target.startswith("ablab") and theirs not in (None, mine) and theirs not in ALLOWED[mine]:
                broken.append(f"{me} imports {target}: layer {mine} may import only {sorted(ALLOWED[mine])}")
    assert broken == []


def test_the_plugin_kinds_table_drives_checks_scaffold_and_cli():
    from ablab.core.cli.main import build_parser
    from ablab.core.plugin_system.kinds import KINDS
    from ablab.core.plugin_system.registry import build_registry
    from ablab.core.plugin_system.scaffold import KINDS as SCAFFOLD_KINDS
    from ablab.core.plugin_system.testing import CHECKS

    registry = build_registry(entry_points=False)
    assert {e.kind for e in registry.all()} == set(KINDS)
    assert set(CHECKS) == set(KINDS) and set(SCAFFOLD_KINDS) == set(KINDS)
    for kind in KINDS:  # every kind can be checked and scaffolded from the command line
        assert build_parser().parse_args(["check-plugin", kind, "x"]).kind == kind
        assert build_parser().parse_args(["new-plugin", "x", "--kind", kind]).kind == [kind]


def test_a_worker_process_imports_no_frame_or_sparse_library():
    """Every `ablab run` and each of its worker processes imports the runner and the registry:
    pandas and scipy.sparse would add about 0.7 CPU-s to each start (measured), for code paths
    (result frames, word vectors) that load them where they are used."""
    code = (
        "import sys, ablab.core.lab.runner, ablab.core.plugin_system.registry as r; r.default_registry(); "
        "print(sorted(m for m in ('pandas', 'scipy.sparse', 'scipy.stats', 'streamlit', 'altair') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
