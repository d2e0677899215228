"""docs/plugins.md runs: its code blocks, importing only from ablab.plugin, register plugins
that pass the contract; docs/api.md is the current rendering of ablab.plugin's docstrings."""

import ast
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import ablab.plugin
from ablab.core.plugin_system.apidoc import render
from ablab.plugin import check_plugin, registry_with

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "plugins.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOCS, re.S)
HOOKS = {
    "register_cells": "cell",
    "register_activations": "activation",
    "register_embeddings": "embedding",
    "register_initializers": "initializer",
    "register_tasks": "task",
    "register_probes": "probe",
}


def test_the_docs_import_only_from_ablab_plugin():
    imported = set()
    for block in BLOCKS:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
    assert {m for m in imported if m.startswith("ablab")} == {"ablab.plugin"}
    assert imported <= {"ablab.plugin", "numpy", "types"}


def test_every_code_block_runs_and_every_plugin_it_registers_passes_the_contract():
    namespace: dict = {}
    plugins = []
    for block in BLOCKS:  # in order, as a reader would paste them
        before = {k: namespace.get(k) for k in HOOKS}
        exec(compile(block, "docs/plugins.md", "exec"), namespace)
        new = {k: namespace[k] for k in HOOKS if k in namespace and namespace[k] is not before[k]}
        if new:
            plugins.append(SimpleNamespace(**new))
    assert {hook for p in plugins for hook in vars(p)} == set(HOOKS)  # an example for every hook
    registry = registry_with(*plugins)
    documented = [(e.kind, e.name) for e in registry.all() if e.provider == "SimpleNamespace"]
    assert len(documented) == 7, documented
    for kind, name in documented:
        assert check_plugin(kind, name, registry), (kind, name)


def test_the_api_reference_is_current():
    current = (ROOT / "docs" / "api.md").read_text()
    assert current == render(ablab.plugin), "docs/api.md is stale: run `python -m ablab.plugin > docs/api.md`"
    for name in ablab.plugin.__all__:
        assert f"`{name}" in current or f"`@{name}`" in current


def test_python_m_ablab_plugin_prints_the_reference():
    out = subprocess.run([sys.executable, "-m", "ablab.plugin"], capture_output=True, text=True, check=True).stdout
    assert out == (ROOT / "docs" / "api.md").read_text()
