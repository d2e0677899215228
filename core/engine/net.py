"""The Net protocol: what the lab asks of a model, and MODEL_KINDS, the one table from a
study's `model.kind` to the class that builds it.

The recurrent network (model.py), the deep feedforward network (feedforward.py) and skip-gram
word2vec (word2vec.py) implement it. Each declares its kind, whether it runs through time
(the probes of recurrent dynamics apply only then) and the task readout it serves, so no
caller tells kinds apart by their attributes.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from ablab.core.engine.feedforward import FeedForwardNet
from ablab.core.engine.model import RecurrentNet
from ablab.core.engine.probe import Probe
from ablab.core.engine.task import Task
from ablab.core.engine.train import TrainResult, TrainSpec
from ablab.core.engine.word2vec import Word2VecModel
from ablab.core.errors import ConfigError, did_you_mean


@runtime_checkable
class Net(Protocol):
    kind: ClassVar[str]  # the model.kind that builds it
    recurrent: ClassVar[bool]  # steps through time with cells: the recurrent-dynamics probes apply

    @property
    def readout(self) -> str:
        """The readout the task must have: "last" | "all" | "vector" | "corpus"."""
        ...

    @classmethod
    def from_config(cls, model: dict[str, Any], task: Task, registry) -> Net:
        """Build from a study's model table (without `kind`) for `task`; ConfigError names the
        key when the two do not fit together."""
        ...

    def fit(self, task: Task, spec: TrainSpec, seeds: list[int], probes: list[Probe]) -> TrainResult:
        """Train one member per seed; member s equals a solo run with seed s."""
        ...

    def gradcheck(self, tol: float, seed: int = 0) -> dict[str, float]:
        """Worst finite-difference relative error per parameter, in float64, at parameters and
        data drawn from `seed` (a run checks at its own seed, so other seeds test other points)."""
        ...


MODEL_KINDS: dict[str, type[Net]] = {cls.kind: cls for cls in (RecurrentNet, FeedForwardNet, Word2VecModel)}


def build_net(model: dict[str, Any], task: Task, registry) -> Net:
    """The net of a study's model table; model.kind picks the row of MODEL_KINDS."""
    model = dict(model)
    kind = model.pop("kind", "recurrent")
    if kind not in MODEL_KINDS:
        raise ConfigError(
            f"model.kind must be one of {', '.join(map(repr, MODEL_KINDS))}, "
            f"got {kind!r}{did_you_mean(kind, MODEL_KINDS)}"
        )
    return MODEL_KINDS[kind].from_config(model, task, registry)
