"""The adding problem (Hochreiter & Schmidhuber 1997), in the Arjovsky et al. (2016) form."""

import numpy as np

from ablab.core.engine.task import Batch, Task
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl


class Adding(Task):
    """Adding problem: sum the two marked values of a length-T sequence.

    Each step carries (value ~ U[0, 1], marker). One marker sits in each half of the sequence;
    the target is the sum of the two marked values. Always predicting 1 (the mean of the sum)
    gives MSE Var(u1 + u2) = 2/12 = 1/6, the baseline a model must beat.
    """

    summary = "sum the two marked values of a length-T sequence (MSE; predict-1 baseline 1/6)"
    defaults = {"length": 50}
    loss = "mse"
    readout = "last"

    def check(self):
        if self.options["length"] < 2:
            raise ConfigError(f"task adding: length must be >= 2, got {self.options['length']}")

    @property
    def n_in(self):
        return 2

    @property
    def n_out(self):
        return 1

    def batch(self, rng, batch_size):
        T = self.options["length"]
        half = T // 2
        values = rng.uniform(0.0, 1.0, (T, batch_size))
        first = rng.integers(0, half, batch_size)
        second = rng.integers(half, T, batch_size)
        markers = np.zeros((T, batch_size))
        cols = np.arange(batch_size)
        markers[first, cols] = 1.0
        markers[second, cols] = 1.0
        x = np.stack([values, markers], axis=-1)  # (T,B,2)
        y = (values[first, cols] + values[second, cols])[:, None]  # (B,1)
        return Batch(x, y)

    def baseline(self):
        return 1.0 / 6.0


@hookimpl
def register_tasks(register):
    register("adding", Adding)
