"""The plugin system: hook specifications, the registry that discovers plugins,
contract checks and the plugin scaffold. Builds on the engine."""
