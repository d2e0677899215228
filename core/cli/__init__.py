"""The `ablab` command line: the top layer; it may use every other layer."""
