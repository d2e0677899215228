"""The task contract: deterministic batches from a seed, a loss, a metric and a baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.options import check_options
from ablab.core.errors import PluginError

READOUTS = ("last", "all", "vector")


@dataclass(frozen=True)
class Batch:
    """Time-major batch of one member. x: (T,B,D) floats, or (T,B) int tokens when the task
    has a vocabulary. y: targets, (B,O) / (B,) for last-step tasks, (T,B,O) / (T,B) for
    every-step tasks. mask: (T,B) weights of the scored steps of an every-step task, or None."""

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None = None


class Task:
    """Base class for tasks. Subclasses set the class attributes and implement batch()."""

    summary: str = ""
    defaults: dict[str, Any] = {}
    loss: str = "mse"  # "mse" | "xent"
    # "last": one target per sequence; "all": a target every step; "vector": inputs without a
    # time axis, x (B, n_in), for model.kind = "feedforward"
    readout: str = "last"
    metric: str = "loss"  # name of the headline metric; "accuracy" for classification
    # What "solved" means for a study's `solved` and `steps_to_solve` quantities: the run's
    # final `metric` ("accuracy" or "loss") compared by `op` with `value`, times the task's
    # baseline loss when of = "baseline". None: accuracy >= 0.99 for xent tasks, loss <= 0.1 x
    # baseline for the rest (see solve_criterion). A study may override it: [study] solve = {...}.
    solve: dict | None = None

    def __init__(self, **options: Any) -> None:
        self.options = check_options(f"task {type(self).__name__}", self.defaults, options)
        self.check()

    def check(self) -> None:
        """Raise ConfigError for impossible option values."""

    @property
    def n_in(self) -> int:
        """Input width; for token tasks the vocabulary size."""
        if self.vocab is not None:
            return self.vocab
        raise NotImplementedError

    @property
    def n_out(self) -> int:
        """Output width: classes for "xent", target size for "mse"."""
        raise NotImplementedError

    vocab: int | None = None  # set for token tasks: x holds ints in [0, vocab)

    def batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """One member's time-major batch, drawn only from rng."""
        raise NotImplementedError

    def baseline(self) -> float:
        """Loss of the best input-ignoring (trivial) predictor, drawn on loss charts."""
        raise NotImplementedError


class TokenStreamTask(Task):
    """Next-token prediction on one token stream (`stream`, ints in [0, vocab)): each batch is
    `length`-token windows at random starts, the target the stream shifted by one; the baseline
    is the stream's unigram entropy (the best loss that ignores the input)."""

    loss = "xent"
    readout = "all"
    metric = "accuracy"

    @property
    def stream(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def n_out(self) -> int:
        return self.vocab

    def batch(self, rng, batch_size):
        T, stream = self.options["length"], self.stream
        starts = rng.integers(0, len(stream) - T - 1, batch_size)
        window = stream[starts[None, :] + np.arange(T + 1)[:, None]]  # (T+1, B)
        return Batch(window[:-1], window[1:], np.ones((T, batch_size)))

    def baseline(self):
        counts = np.bincount(self.stream, minlength=self.vocab).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())


def solve_criterion(task: type[Task] | Task) -> dict:
    """The task's solve criterion (Task.solve, else the default for its loss)."""
    if task.solve is not None:
        return dict(task.solve)
    if task.loss == "xent":
        return {"metric": "accuracy", "op": ">=", "value": 0.99}
    return {"metric": "loss", "op": "<=", "value": 0.1, "of": "baseline"}


def member_rng(seed: int) -> np.random.Generator:
    return streams.rng(seed, streams.DATA)


def stack_batches(task: Task, rngs: list[np.random.Generator], batch_size: int) -> Batch:
    """One batch per member, stacked on a leading ensemble axis."""
    parts = [task.batch(rng, batch_size) for rng in rngs]
    mask = None if parts[0].mask is None else np.stack([p.mask for p in parts])
    return Batch(np.stack([p.x for p in parts]), np.stack([p.y for p in parts]), mask)


def validate_plugin(name: str, obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Task)):
        raise PluginError(f"task {name!r} must be a subclass of ablab.core.engine.task.Task, got {obj!r}")
    if obj.batch is Task.batch:
        raise PluginError(f"task {name!r} ({obj.__qualname__}) does not implement batch()")
    for attr, allowed in (("loss", ("mse", "xent")), ("readout", READOUTS)):
        if getattr(obj, attr) not in allowed:
            raise PluginError(
                f"task {name!r}: {attr} must be one of {', '.join(map(repr, allowed))}, got {getattr(obj, attr)!r}"
            )
