"""Probes on activation values: dead units, mean shift, saturation.

Cells name their activations differently (the RNN's "h", the LSTM's "cell_input" and
"cell_output", the GRU's "candidate"), so each probe also records ACROSS_ACTIVATIONS: per layer,
the mean over the activations other than gates. It puts every cell on one chart, with a band
over seeds like any other quantity."""

from collections import defaultdict

import numpy as np

from ablab.core.engine.probe import ACROSS_ACTIVATIONS, Probe, is_recurrent
from ablab.plugin import hookimpl

SATURATION_EPS = 1e-2  # a derivative below this passes (almost) no gradient


def across_activations(ctx, probe: str, per_activation: list[tuple[int, str, np.ndarray]]) -> list[dict]:
    """Records of the mean over each layer's non-gate activations of (layer, name, (S,) values)."""
    by_layer = defaultdict(list)
    for layer, name, values in per_activation:
        if "gate" not in name:
            by_layer[layer].append(values)
    out = []
    for layer, values in sorted(by_layer.items()):
        out += ctx.record(probe, ACROSS_ACTIVATIONS, np.mean(values, axis=0), layer)
    return out


class DeadFraction(Probe):
    """Per layer and activation: share of units whose derivative is exactly zero on every probe
    sample and step. Such a unit passes no gradient, so it can no longer learn.

    Feedforward nets also get `input_dead`: the share of probe samples on which some hidden layer
    outputs zeros only, so that the net is constant around that input and passes no gradient to
    the layers below (Lu et al. 2019, "born dead" when measured at initialisation)."""

    name = "dead_fraction"
    summary = "share of units with zero activation derivative on every probe sample and step"

    def measure(self, ctx):
        out, seen = [], []
        layers = ctx.net.activations(ctx.forward[1])
        for layer, name, act, pre, post in layers:
            alive = (act.deriv(pre, post) != 0).any(axis=1)  # (S,units)
            seen.append((layer, name, 1.0 - alive.mean(axis=1)))
            out += ctx.record(self.name, name, seen[-1][2], layer)
        out += across_activations(ctx, self.name, seen)
        if not is_recurrent(ctx.net) and layers:
            silent = np.stack([(post == 0).all(axis=2) for *_, post in layers])  # (L,S,B): layer all zero
            out += ctx.record(self.name, "input_dead", silent.any(axis=0).mean(axis=1))
        return out


class MeanShift(Probe):
    """Per layer and activation: the mean output over samples and units (index -1) and per unit
    (index j). A ReLU layer's outputs are non-negative, so its mean sits above zero and shifts
    the next layer's input (Clevert et al. 2016)."""

    name = "mean_shift"
    summary = "mean activation output per layer (and per unit)"

    def measure(self, ctx):
        out, seen = [], []
        for layer, name, _act, _pre, post in ctx.net.activations(ctx.forward[1]):
            unit_mean = post.mean(axis=1)  # (S,units)
            seen.append((layer, name, unit_mean.mean(axis=1)))
            out += ctx.record(self.name, name, seen[-1][2], layer)
            if name == "h":
                for j in range(unit_mean.shape[1]):
                    out += ctx.record(self.name, name, unit_mean[:, j], layer, j)
        return out + across_activations(ctx, self.name, seen)


class Saturation(Probe):
    """Per layer and activation: share of unit-steps whose derivative is below 0.01, where a
    tanh or sigmoid unit (or a gate) is saturated and passes almost no gradient."""

    name = "saturation"
    summary = "share of unit-steps with activation derivative below 0.01"

    def measure(self, ctx):
        out, seen = [], []
        for layer, name, act, pre, post in ctx.net.activations(ctx.forward[1]):
            small = np.abs(act.deriv(pre, post)) < SATURATION_EPS
            seen.append((layer, name, small.reshape(small.shape[0], -1).mean(axis=1)))
            out += ctx.record(self.name, name, seen[-1][2], layer)
        return out + across_activations(ctx, self.name, seen)


@hookimpl
def register_probes(register):
    for probe in (DeadFraction(), MeanShift(), Saturation()):
        register(probe.name, probe)
