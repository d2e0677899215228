"""ablab's built-in plugins. They register through the same hooks as any installed plugin."""

DEFAULT_PLUGINS = (
    "ablab.plugins.activations",
    "ablab.plugins.initializers",
    "ablab.plugins.cells.rnn",
    "ablab.plugins.cells.lstm",
    "ablab.plugins.cells.gru",
    "ablab.plugins.tasks.adding",
    "ablab.plugins.tasks.copy",
    "ablab.plugins.tasks.recall",
    "ablab.plugins.tasks.temporal_order",
    "ablab.plugins.tasks.reber",
    "ablab.plugins.tasks.charlm",
    "ablab.plugins.tasks.teacher",
    "ablab.plugins.tasks.wordpairs",
    "ablab.plugins.tasks.wordnet",
    "ablab.plugins.probes.activity",
    "ablab.plugins.probes.gradients",
    "ablab.plugins.probes.training",
    "ablab.plugins.embeddings.basic",
    "ablab.plugins.embeddings.word2vec",
)
