"""Probes on the training process and gated cells: clipping, gates, memory span, layer stats."""

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.losses import accuracy
from ablab.core.engine.probe import Probe, is_recurrent
from ablab.plugin import hookimpl

GATE_SATURATED = 0.05  # a gate within this of 0 or 1 is (nearly) shut or open


class Clipping(Probe):
    """Since the last checkpoint: mean and max pre-clip gradient norm, share of steps clipped."""

    name = "clipping"
    summary = "pre-clip gradient norm and share of steps clipped since the last checkpoint"

    def measure(self, ctx):
        w = ctx.window
        if not w.steps:
            return []
        return (
            ctx.record(self.name, "clip_rate", w.clipped / w.steps)
            + ctx.record(self.name, "preclip_norm_mean", w.norm_sum / w.steps)
            + ctx.record(self.name, "preclip_norm_max", w.norm_max)
        )


class Gates(Probe):
    """Per gate (input, forget, output, update, reset): the mean value and the share of values
    within 0.05 of 0 or 1, over probe samples and steps."""

    name = "gates"
    summary = "mean and saturated share of each gate"

    def applies(self, net, task):
        return is_recurrent(net)

    def measure(self, ctx):
        out = []
        _, cache = ctx.forward
        for l, gate, v in ctx.net.gate_values(cache):  # v (S, T*B, H)
            v = v.reshape(v.shape[0], -1)
            out += ctx.record(self.name, f"{gate}_mean", v.mean(axis=1), l)
            sat = (v < GATE_SATURATED) | (v > 1 - GATE_SATURATED)
            out += ctx.record(self.name, f"{gate}_saturated", sat.mean(axis=1), l)
        return out


class MemorySpan(Probe):
    """For tasks with batch_at_lag (recall): accuracy at each lag (index = lag) and the span,
    the largest lag k such that every lag 1..k is solved with accuracy >= 0.8."""

    name = "memory_span"
    summary = "recall accuracy per lag and the largest lag solved (accuracy >= 0.8)"
    threshold = 0.8
    batch_size = 128

    def applies(self, net, task):
        return hasattr(task, "batch_at_lag")

    def measure(self, ctx):
        from ablab.core.engine.task import Batch
        from ablab.core.engine.train import encode_inputs

        out, span = [], np.zeros(len(ctx.seeds))
        solved = np.ones(len(ctx.seeds), dtype=bool)
        for lag in range(1, ctx.task.options["max_lag"] + 1):
            parts = [
                ctx.task.batch_at_lag(streams.rng(seed, streams.PROBE, lag), self.batch_size, lag) for seed in ctx.seeds
            ]
            batch = Batch(np.stack([p.x for p in parts]), np.stack([p.y for p in parts]))
            y, _ = ctx.net.forward(ctx.params, encode_inputs(ctx.net, ctx.task, batch.x, ctx.dtype))
            acc = accuracy(y, batch.y)
            out += ctx.record(self.name, "accuracy", acc, index=lag)
            solved &= acc >= self.threshold
            span = np.where(solved, lag, span)
        out += ctx.record(self.name, "span", span)
        return out


class LayerStats(Probe):
    """Feedforward nets: per layer, activation mean and std and the gradient norm of W."""

    name = "layer_stats"
    summary = "per-layer activation mean/std and weight-gradient norm (feedforward nets)"

    def applies(self, net, task):
        return not is_recurrent(net)

    def measure(self, ctx):
        out = []
        grads, _ = ctx.backward
        for layer, _name, _act, _pre, post in ctx.net.activations(ctx.forward[1]):
            flat = post.reshape(post.shape[0], -1).astype(np.float64)
            out += ctx.record(self.name, "act_mean", flat.mean(axis=1), layer)
            out += ctx.record(self.name, "act_std", flat.std(axis=1), layer)
            g = grads[f"l{layer}.W"].reshape(post.shape[0], -1).astype(np.float64)
            out += ctx.record(self.name, "grad_norm", np.sqrt((g * g).sum(axis=1)), layer)
        return out


class Linearity(Probe):
    """Feedforward nets: how far the network is from a linear map, as the relative failure of
    superposition on probe inputs, ||f(a) + f(b) - f(a + b) - f(0)|| / ||f(a + b) - f(0)||.
    0 for a linear map (any depth of identity activations); order 1 for a nonlinear one.

    For regression tasks also `lsq_ratio`: the net's mean squared error on a large held-out
    sample over that of the least-squares affine map (fitted on another large sample). An
    affine net cannot go below 1 beyond sampling noise (about (n_in + 1) / LSQ_SAMPLES); a
    nonlinear net can, when the task is nonlinear."""

    name = "linearity"
    summary = "failure of superposition (0: the net is linear); MSE over the least-squares affine optimum"
    lsq_samples = 8192

    def applies(self, net, task):
        return not is_recurrent(net)

    def measure(self, ctx):
        x = ctx.x.astype(np.float64)
        params = {k: v.astype(np.float64) for k, v in ctx.params.items()}
        half = x.shape[1] // 2
        a, b = x[:, :half], x[:, half : 2 * half]
        f = lambda v: ctx.net.forward(params, v)[0]  # noqa: E731
        zero = f(np.zeros_like(a))
        num = f(a) + f(b) - f(a + b) - zero
        den = f(a + b) - zero
        S = x.shape[0]
        err = np.sqrt((num**2).reshape(S, -1).sum(1)) / np.maximum(np.sqrt((den**2).reshape(S, -1).sum(1)), 1e-300)
        out = ctx.record(self.name, "error", err)
        if ctx.task.loss == "mse" and ctx.task.vocab is None:
            out += ctx.record(self.name, "lsq_ratio", self._lsq_ratio(ctx, f))
        return out

    def _lsq_ratio(self, ctx, f) -> np.ndarray:
        rng = np.random.default_rng([0, 5])  # fixed data: the same optimum for every member and checkpoint
        fit, test = ctx.task.batch(rng, self.lsq_samples), ctx.task.batch(rng, self.lsq_samples)
        affine = lambda x: np.concatenate([x, np.ones((len(x), 1))], axis=1)  # noqa: E731
        coef, *_ = np.linalg.lstsq(affine(fit.x), fit.y, rcond=None)
        best = ((affine(test.x) @ coef - test.y) ** 2).mean()
        S = len(ctx.seeds)
        y = f(np.broadcast_to(test.x, (S, *test.x.shape)).astype(np.float64))
        return ((y - test.y) ** 2).reshape(S, -1).mean(axis=1) / best


@hookimpl
def register_probes(register):
    for probe in (Clipping(), Gates(), MemorySpan(), LayerStats(), Linearity()):
        register(probe.name, probe)
