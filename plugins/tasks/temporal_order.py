"""Temporal order (Hochreiter & Schmidhuber 1997, task 6a; used by Pascanu et al. 2013)."""

import numpy as np

from ablab.core.engine.task import Batch, Task
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl


class TemporalOrder(Task):
    """Classify the order of two relevant symbols hidden among distractors.

    A length-T sequence of distractors {a, b, c, d} holds X or Y at one step in [10%, 20%) of
    T and again at one step in [50%, 60%) of T. The class is the pair: XX, XY, YX or YY.
    Guessing uniformly costs ln 4.
    """

    summary = "temporal order of two symbols among distractors, 4 classes (baseline ln 4)"
    defaults = {"length": 50}
    loss = "xent"
    readout = "last"
    metric = "accuracy"
    vocab = 6  # a b c d X Y

    def check(self):
        if self.options["length"] < 10:
            raise ConfigError(f"task temporal_order: length must be >= 10, got {self.options['length']}")

    @property
    def n_out(self):
        return 4

    def batch(self, rng, batch_size):
        T = self.options["length"]
        x = rng.integers(0, 4, (T, batch_size))
        first = rng.integers(T // 10, max(T // 5, T // 10 + 1), batch_size)
        second = rng.integers(T // 2, max(3 * T // 5, T // 2 + 1), batch_size)
        a = rng.integers(0, 2, batch_size)  # 0: X, 1: Y
        b = rng.integers(0, 2, batch_size)
        cols = np.arange(batch_size)
        x[first, cols] = 4 + a
        x[second, cols] = 4 + b
        return Batch(x, 2 * a + b)

    def baseline(self):
        return float(np.log(4))


@hookimpl
def register_tasks(register):
    register("temporal_order", TemporalOrder)
