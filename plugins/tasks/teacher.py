"""Teacher-student regression for deep feedforward networks."""

from functools import cached_property

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.task import Batch, Task
from ablab.core.errors import ConfigError, did_you_mean
from ablab.plugin import hookimpl


class Teacher(Task):
    """Regress onto a fixed random teacher: y = T(x), x ~ N(0, I).

    The teacher is a network of `teacher_depth` hidden layers of `teacher_width` units with
    Xavier-scaled Gaussian weights drawn from `teacher_seed` (the same teacher for every member
    and every run), its output scaled to unit variance. Its activation is tanh, or relu, so that
    a study can use a teacher that does not favour the student with the same activation.
    Predicting the mean of y costs Var(y) = 1.
    """

    summary = "regression onto a fixed random deep tanh teacher (baseline: Var(y) = 1)"
    defaults = {
        "n_in": 16,
        "n_out": 1,
        "teacher_depth": 3,
        "teacher_width": 32,
        "teacher_seed": 0,
        "activation": "tanh",
    }
    activations = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0)}
    loss = "mse"
    readout = "vector"

    def check(self):
        for key in ("n_in", "n_out", "teacher_depth", "teacher_width"):
            if self.options[key] < 1:
                raise ConfigError(f"task teacher: {key} must be >= 1, got {self.options[key]}")
        if self.options["activation"] not in self.activations:
            raise ConfigError(
                f"task teacher: activation must be one of {', '.join(map(repr, self.activations))}, "
                f"got {self.options['activation']!r}{did_you_mean(self.options['activation'], self.activations)}"
            )

    @property
    def n_in(self):
        return self.options["n_in"]

    @property
    def n_out(self):
        return self.options["n_out"]

    @cached_property
    def _teacher(self):
        o = self.options
        rng = streams.rng(o["teacher_seed"], streams.TEACHER)
        sizes = [o["n_in"]] + [o["teacher_width"]] * o["teacher_depth"] + [o["n_out"]]
        weights = [rng.normal(0, np.sqrt(2.0 / (a + b)), (a, b)) for a, b in zip(sizes, sizes[1:])]
        sample = self._apply(weights, rng.normal(size=(8192, o["n_in"])), 1.0)
        return weights, 1.0 / sample.std(axis=0)

    def _apply(self, weights, x, scale):
        f = self.activations[self.options["activation"]]
        for w in weights[:-1]:
            x = f(x @ w)
        return (x @ weights[-1]) * scale

    def batch(self, rng, batch_size):
        weights, scale = self._teacher
        x = rng.normal(size=(batch_size, self.n_in))
        return Batch(x, self._apply(weights, x, scale))

    def baseline(self):
        return 1.0


@hookimpl
def register_tasks(register):
    register("teacher", Teacher)
