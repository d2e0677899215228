"""ablab.plugin: everything a plugin author imports, from one place.

    from ablab.plugin import hookimpl, Cell, RecurrentParam

The names in __all__ are ablab's stable plugin API: they keep their meaning within a major
version of ablab. Everything under ablab.core is internal and may move between releases.
docs/api.md is generated from these docstrings: `python -m ablab.plugin > docs/api.md`.
"""

from ablab.core.engine.activation import Activation, BoundActivation, resolve
from ablab.core.engine.cell import Cell, RecurrentParam, preset
from ablab.core.engine.embedding import Embedding, lookup, scatter_add
from ablab.core.engine.fused_cell import FusedCell
from ablab.core.engine.initializer import Initializer
from ablab.core.engine.model import RecurrentNet, RecurrentSpec
from ablab.core.engine.probe import Probe, ProbeContext
from ablab.core.engine.task import Batch, Task
from ablab.core.engine.train import TrainResult, TrainSpec, train
from ablab.core.errors import ConfigError, PluginError
from ablab.core.plugin_system.markers import hookimpl
from ablab.core.plugin_system.registry import Registry, registry_with
from ablab.core.plugin_system.testing import (
    ContractError,
    Outcome,
    check_activation,
    check_cell,
    check_embedding,
    check_initializer,
    check_plugin,
    check_probe,
    check_task,
)

__all__ = [
    # writing a plugin
    "hookimpl",
    "Cell",
    "RecurrentParam",
    "preset",
    "Activation",
    "BoundActivation",
    "resolve",
    "Embedding",
    "lookup",
    "scatter_add",
    "FusedCell",
    "Initializer",
    "Task",
    "Batch",
    "Probe",
    "ProbeContext",
    "ConfigError",
    "PluginError",
    # testing a plugin
    "registry_with",
    "Registry",
    "check_plugin",
    "check_cell",
    "check_activation",
    "check_embedding",
    "check_initializer",
    "check_task",
    "check_probe",
    "ContractError",
    "Outcome",
    "RecurrentSpec",
    "RecurrentNet",
    "TrainSpec",
    "TrainResult",
    "train",
]

if __name__ == "__main__":
    import sys

    from ablab.core.plugin_system.apidoc import render

    sys.stdout.write(render(sys.modules[__name__]))
