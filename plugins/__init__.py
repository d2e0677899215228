"""ablab's built-in plugins. They register through the same hooks as any installed plugin."""

DEFAULT_PLUGINS = (
    "ablab.plugins.activations",
    "ablab.plugins.initializers",
    "ablab.plugins.cells.rnn",
    "ablab.plugins.cells.lstm",
    "ablab.plugins.cells.gru",
    "ablab.plugins.tasks.adding",
)
