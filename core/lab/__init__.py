"""The lab: study files, the runner, the results store, result tables and verdicts.
Builds on the engine and the plugin system."""
