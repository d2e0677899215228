"""Delayed recall: the probe behind memory span."""

import numpy as np

from ablab.core.engine.task import Batch, Task
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl


class Recall(Task):
    """Show a symbol, then `lag` distractor symbols, then a query marker: name the first symbol.

    Each sequence draws its lag uniformly from [min_lag, max_lag] and is left-padded so that
    the query is always the last step. Distractors come from the same alphabet, so the first
    symbol must be held, not just detected. A model that ignores the input scores ln(symbols).
    The memory_span probe evaluates each lag on its own with batch_at_lag().
    """

    summary = "delayed recall: name the symbol shown lag steps ago (baseline ln symbols)"
    defaults = {"symbols": 8, "min_lag": 1, "max_lag": 10}
    loss = "xent"
    readout = "last"
    metric = "accuracy"

    def check(self):
        o = self.options
        if o["symbols"] < 2:
            raise ConfigError(f"task recall: symbols must be >= 2, got {o['symbols']}")
        if not 0 <= o["min_lag"] <= o["max_lag"]:
            raise ConfigError(f"task recall: need 0 <= min_lag <= max_lag, got {o['min_lag']} and {o['max_lag']}")

    @property
    def vocab(self):
        return self.options["symbols"] + 2  # symbols, query marker, padding

    @property
    def n_out(self):
        return self.options["symbols"]

    def _sequences(self, rng, lags):
        K, B = self.options["symbols"], len(lags)
        T = self.options["max_lag"] + 2
        x = np.full((T, B), K + 1, dtype=np.int64)  # padding
        target = rng.integers(0, K, B)
        noise = rng.integers(0, K, (T, B))
        for b, lag in enumerate(lags):
            start = T - lag - 2
            x[start, b] = target[b]
            x[start + 1 : T - 1, b] = noise[start + 1 : T - 1, b]
        x[-1] = K  # query marker
        return Batch(x, target)

    def batch(self, rng, batch_size):
        lags = rng.integers(self.options["min_lag"], self.options["max_lag"] + 1, batch_size)
        return self._sequences(rng, lags)

    def batch_at_lag(self, rng, batch_size, lag):
        return self._sequences(rng, np.full(batch_size, lag))

    def baseline(self):
        return float(np.log(self.options["symbols"]))


@hookimpl
def register_tasks(register):
    register("recall", Recall)
