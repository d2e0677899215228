"""The copying-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016 form)."""

import numpy as np

from ablab.core.engine.task import Batch, Task
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl


class Copy(Task):
    """Copying memory: see `n_copy` symbols from an alphabet of `symbols`, wait, then recall them.

    Input: n_copy random symbols, `delay - 1` blanks, a delimiter, n_copy more blanks (length
    delay + 2 n_copy). Target: blanks, then the n_copy symbols at the last n_copy steps. Every
    step is scored. A memoryless model predicts blanks, then guesses uniformly: cross-entropy
    n_copy ln(symbols) / (delay + 2 n_copy), which is 10 ln 8 / (T + 20) in the usual setting.
    """

    summary = "copying memory: recall n_copy symbols after a delay (baseline 10 ln 8 / (T + 20))"
    defaults = {"delay": 20, "symbols": 8, "n_copy": 10}
    loss = "xent"
    readout = "all"
    metric = "accuracy"

    def check(self):
        for key in ("delay", "symbols", "n_copy"):
            if self.options[key] < 1:
                raise ConfigError(f"task copy: {key} must be >= 1, got {self.options[key]}")

    @property
    def blank(self):
        return self.options["symbols"]

    @property
    def vocab(self):
        return self.options["symbols"] + 2  # symbols, blank, delimiter

    @property
    def n_out(self):
        return self.vocab

    def batch(self, rng, batch_size):
        K, delay, n = self.options["symbols"], self.options["delay"], self.options["n_copy"]
        T = delay + 2 * n
        seq = rng.integers(0, K, (n, batch_size))
        x = np.full((T, batch_size), self.blank, dtype=np.int64)
        x[:n] = seq
        x[n + delay - 1] = K + 1  # delimiter: "now repeat"
        y = np.full((T, batch_size), self.blank, dtype=np.int64)
        y[-n:] = seq
        return Batch(x, y, np.ones((T, batch_size)))

    def baseline(self):
        o = self.options
        return o["n_copy"] * np.log(o["symbols"]) / (o["delay"] + 2 * o["n_copy"])


@hookimpl
def register_tasks(register):
    register("copy", Copy)
