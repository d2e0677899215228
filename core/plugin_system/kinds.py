"""The one table of plugin kinds. The registry, the validators, the contract checks, the
scaffold and the command line's choices are all derived from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ablab.core.engine import activation, cell, embedding, initializer, probe, task


@dataclass(frozen=True)
class PluginKind:
    name: str  # what users type: `ablab check-plugin cell NAME`
    hook: str  # the hook in hookspecs.py that registers this kind
    validate: Callable[[str, Any], None]  # raises PluginError on a bad object, at registration


# The order is the order `ablab plugins` prints.
KINDS: dict[str, PluginKind] = {
    k.name: k
    for k in (
        PluginKind("cell", "register_cells", cell.validate_plugin),
        PluginKind("activation", "register_activations", activation.validate_plugin),
        PluginKind("embedding", "register_embeddings", embedding.validate_plugin),
        PluginKind("initializer", "register_initializers", initializer.validate_plugin),
        PluginKind("task", "register_tasks", task.validate_plugin),
        PluginKind("probe", "register_probes", probe.validate_plugin),
    )
}
