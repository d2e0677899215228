"""Run statuses: the one list of them, in the order tables show them."""

STATUSES = ("done", "diverged", "failed", "running", "pending")
FINISHED = ("done", "diverged")  # has results: never rerun, merged into curve statistics
ENDED = ("done", "diverged", "failed")  # no longer running: counts as progress
