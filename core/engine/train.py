"""The training loop: all seeds of one configuration train together as one ensemble.

Member s gets its own initialisation, data stream, clipping decision and optimiser state,
so it equals a solo run with seed s. A member whose loss or gradient turns NaN/Inf, or whose
loss explodes past EXPLODED x the task's baseline loss, is frozen at that step and marked
diverged; the others go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ablab.core.engine.clipping import ClipSpec, clip
from ablab.core.engine.losses import LOSSES, accuracy
from ablab.core.engine.optim import OptimizerSpec, init_state, learning_rate, update
from ablab.core.engine.perf import tune_allocator
from ablab.core.engine.probe import Probe, ProbeContext, WindowStats, probe_rng
from ablab.core.engine.spec import positive_int
from ablab.core.engine.task import Task, member_rng, stack_batches
from ablab.core.errors import ConfigError

# A loss this many times the trivial predictor's is an explosion even while it is still finite:
# lr = 1e9 gives losses of 1e18 that float32 still holds, and such a run must not count as done.
EXPLODED = 1e6


# A recurrent net's forward and backward run over groups of members whose parameters together
# take at most about this many bytes (a power of two of members, at least one): at medium size
# 16 members' weights and caches leave the CPU caches between time steps, and groups of 1-8
# were 5-16% faster than one ensemble of 16 (NOTES.md). Every computation is per member, so a
# group changes no number. Feedforward nets (no time loop reusing the weights) run whole.
GROUP_BYTES = 768 * 2**10


def member_groups(params: dict, S: int) -> list[slice]:
    """The member slices that a recurrent net's forward and backward run on, one after another."""
    per_member = max(1, sum(v.nbytes for v in params.values()) // S)
    size = max(1, GROUP_BYTES // per_member)
    size = 1 << (size.bit_length() - 1)  # the largest power of two <= size
    return [slice(start, min(S, start + size)) for start in range(0, S, size)]


def loss_and_grads(net, params: dict, x: np.ndarray, target, mask, loss_fn, window: int | None):
    """(outputs, per-member loss, gradients) of one training step, forward and backward run
    member group by member group (member_groups); the whole ensemble's arrays come back."""
    S = len(x)
    groups = member_groups(params, S) if net.recurrent else [slice(0, S)]
    if len(groups) == 1:
        y, cache = net.forward(params, x, train=True)
        loss, dy = loss_fn(y, target, mask)
        grads, _ = net.backward(params, dy, cache, window, input_grad=False)
        return y, loss, grads
    ys, losses, grads = [], [], {k: np.empty_like(v) for k, v in params.items()}
    for g in groups:
        p = {k: v[g] for k, v in params.items()}  # views
        y, cache = net.forward(p, x[g], train=True)
        loss, dy = loss_fn(y, target[g], None if mask is None else mask[g])
        group_grads, _ = net.backward(p, dy, cache, window, input_grad=False)
        del cache  # one group's cache alive at a time
        for k, v in group_grads.items():
            grads[k][g] = v
        ys.append(y)
        losses.append(loss)
    return np.concatenate(ys), np.concatenate(losses), grads


@dataclass(frozen=True)
class TrainSpec:
    steps: int = 300
    batch_size: int = 32
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    clip: ClipSpec = field(default_factory=ClipSpec)
    bptt_window: int | None = None  # None: full BPTT
    log_every: int = 10
    probe_every: int = 0  # 0: probes at initialisation and at the end only
    probe_batch: int = 64  # examples per member in the fixed probe batch

    def __post_init__(self):
        positive_int(self.steps, "train.steps")
        positive_int(self.batch_size, "train.batch_size")
        positive_int(self.log_every, "train.log_every")
        positive_int(self.probe_batch, "train.probe_batch")
        if self.bptt_window is not None:
            positive_int(self.bptt_window, "train.bptt_window")
        if isinstance(self.probe_every, bool) or not isinstance(self.probe_every, int) or self.probe_every < 0:
            raise ConfigError(f"train.probe_every must be a whole number >= 0, got {self.probe_every!r}")


@dataclass
class TrainResult:
    seeds: list[int]
    params: dict[str, np.ndarray]
    steps: list[int] = field(default_factory=list)  # logged steps
    metrics: dict[str, list[np.ndarray]] = field(default_factory=dict)  # name -> [(S,) per logged step]
    diverged_at: np.ndarray | None = None  # (S,) step of divergence, -1 if none
    probe_records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    baseline: float | None = None  # the task's trivial-predictor loss, when the loss is the task's

    def series(self, name: str) -> np.ndarray:
        """(n_logged, S) array of one metric."""
        return np.stack(self.metrics[name])


def encode_inputs(net, task: Task, x: np.ndarray, dtype) -> np.ndarray:
    """What the net's forward takes: tokens when it has an embedding; floats otherwise
    (tokens one-hot encoded for a net built without an embedding)."""
    if task.vocab is None:
        return x.astype(dtype, copy=False)
    if net.embedding is not None:
        return x
    return np.eye(task.vocab, dtype=dtype)[x]


def evaluate(net, params: dict, task: Task, batch, dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-member loss (and accuracy for classification) on a batch, no gradient."""
    y, _ = net.forward(params, encode_inputs(net, task, batch.x, dtype))
    loss, _ = LOSSES[task.loss](y, batch.y, batch.mask)
    acc = accuracy(y, batch.y, batch.mask) if task.loss == "xent" else None
    return loss, acc


def reference_loss(task: Task) -> float:
    """The task's trivial-predictor loss, the scale an explosion is measured against; a task that
    does not define one (or defines 0) is measured against a loss of 1."""
    try:
        base = float(task.baseline())
    except NotImplementedError:
        return 1.0
    return base if np.isfinite(base) and base > 0 else 1.0


def train(
    net,
    task: Task,
    spec: TrainSpec,
    seeds: list[int],
    *,
    dtype=np.float32,
    probes: list[Probe] = (),
    params: dict | None = None,
) -> TrainResult:
    """Train one ensemble (one member per seed); probes run at step 0, every
    spec.probe_every steps and after the last step."""
    if not seeds:
        raise ConfigError("an ensemble needs at least one seed; give seeds = [0, 1, ...]")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct, got {seeds}")
    if net.readout != task.readout:
        raise ConfigError(f"task needs readout {task.readout!r} but the model has {net.readout!r}")
    tune_allocator()
    started = time.perf_counter()
    S = len(seeds)
    params = net.init(seeds, dtype) if params is None else params
    opt_state = init_state(spec.optimizer, params)
    rngs = [member_rng(s) for s in seeds]
    loss_fn = LOSSES[task.loss]
    active = np.ones(S, dtype=bool)
    result = TrainResult(list(seeds), params, diverged_at=np.full(S, -1))
    probe_every = spec.probe_every or spec.steps
    active_probes = [p for p in probes if p.applies(net, task)]
    probe_batch = stack_batches(task, [probe_rng(s) for s in seeds], spec.probe_batch) if active_probes else None
    window = WindowStats()
    limit = EXPLODED * reference_loss(task)
    constrain = getattr(net, "constrain", None)  # recurrent nets: cells' constrain() hooks

    def run_checkpoints(step: int) -> None:
        nonlocal window
        if not active_probes:
            return
        ctx = ProbeContext(
            step,
            net,
            params,
            task,
            list(seeds),
            probe_batch,
            encode_inputs(net, task, probe_batch.x, dtype),
            window,
            dtype,
        )
        for probe in active_probes:
            result.probe_records += probe.measure(ctx)
        window = WindowStats()

    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        run_checkpoints(0)
        for step in range(spec.steps):
            batch = stack_batches(task, rngs, spec.batch_size)
            # no cache outlives the call: else the next forward pass would run while this one's is still held
            y, loss, grads = loss_and_grads(
                net, params, encode_inputs(net, task, batch.x, dtype), batch.y, batch.mask, loss_fn, spec.bptt_window
            )
            norm, clipped = clip(spec.clip, grads)
            window.add(norm, clipped)
            bad = active & ~(np.isfinite(loss) & np.isfinite(norm) & (loss <= limit))
            if bad.any():
                result.diverged_at[bad] = step
                active &= ~bad
            frozen = None
            if not active.all():
                for g in grads.values():
                    g[~active] = 0.0
                frozen = active
            lr = learning_rate(spec.optimizer, step, spec.steps)
            update(spec.optimizer, params, grads, opt_state, lr, frozen)
            if constrain is not None:
                constrain(params)
            if step % spec.log_every == 0 or step == spec.steps - 1:
                gone = result.diverged_at >= 0
                result.steps.append(step)
                for name, value in (("loss", loss), ("grad_norm", norm), ("clipped", clipped.astype(float))):
                    v = np.asarray(value, dtype=np.float64).copy()
                    v[gone & (result.diverged_at < step)] = np.nan
                    result.metrics.setdefault(name, []).append(v)
                if task.loss == "xent":
                    result.metrics.setdefault("accuracy", []).append(accuracy(y, batch.y, batch.mask))
            if (step + 1) % probe_every == 0 and step + 1 < spec.steps:
                run_checkpoints(step + 1)
        run_checkpoints(spec.steps)
    result.seconds = time.perf_counter() - started
    return result


def fit_by_gradient(net, task: Task, spec: TrainSpec, seeds: list[int], probes: list[Probe]) -> TrainResult:
    """Net.fit of the networks trained by backpropagation: train(), and the task's baseline."""
    result = train(net, task, spec, seeds, probes=probes)
    result.baseline = float(task.baseline())
    return result
