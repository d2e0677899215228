"""ablab.plugin: everything a plugin author imports, from one place.

    from ablab.plugin import hookimpl, Cell, RecurrentParam

The names in __all__ are ablab's stable plugin API; everything under ablab.core is internal
and may move between releases.
"""

from ablab.core.engine.activation import Activation, BoundActivation, resolve
from ablab.core.engine.cell import Cell, RecurrentParam, preset
from ablab.core.engine.embedding import Embedding
from ablab.core.engine.fused_cell import FusedCell
from ablab.core.engine.initializer import Initializer
from ablab.core.engine.probe import Probe, ProbeContext
from ablab.core.engine.task import Batch, Task
from ablab.core.plugin_system.markers import hookimpl
from ablab.core.plugin_system.testing import (
    ContractError,
    check_activation,
    check_cell,
    check_initializer,
    check_plugin,
    check_probe,
    check_task,
)

__all__ = [
    "Activation",
    "Batch",
    "BoundActivation",
    "Cell",
    "ContractError",
    "Embedding",
    "FusedCell",
    "Initializer",
    "Probe",
    "ProbeContext",
    "RecurrentParam",
    "Task",
    "check_activation",
    "check_cell",
    "check_initializer",
    "check_plugin",
    "check_probe",
    "check_task",
    "hookimpl",
    "preset",
    "resolve",
]
