"""The plugin contract: one hook per kind; each receives a `register(name, obj)` callback."""

from ablab.core.plugin_system.markers import hookspec


@hookspec
def register_cells(register):
    """Register recurrent cells: register(name, cell_class)."""


@hookspec
def register_activations(register):
    """Register activation functions: register(name, Activation)."""


@hookspec
def register_embeddings(register):
    """Register token embeddings: register(name, embedding_class)."""


@hookspec
def register_initializers(register):
    """Register weight initialisers: register(name, Initializer)."""


@hookspec
def register_tasks(register):
    """Register tasks that generate training batches: register(name, task_class)."""


@hookspec
def register_probes(register):
    """Register probes that measure a network while it learns: register(name, probe)."""
