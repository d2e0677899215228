"""Built-in probes, one file each."""
