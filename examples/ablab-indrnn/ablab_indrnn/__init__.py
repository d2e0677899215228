"""IndRNN cell plugin for ablab: every unit has one recurrent weight of its own."""

import numpy as np

from ablab.plugin import Cell, Probe, RecurrentParam, hookimpl, resolve


class IndRNN(Cell):
    """Independently recurrent neural network (Li et al. 2018, CVPR).

    With a_t = W x_t + b computed by ablab before the time loop, and u a vector (one weight
    per unit, so units only meet through W of the next layer):
        z_t = a_t + u * h_{t-1}
        h_t = relu(z_t)
    Backward:
        dz_t     = dh_t * relu'(z_t)
        du      += sum over the batch of dz_t * h_{t-1}
        dh_{t-1} = dz_t * u
        da_t     = dz_t
    u starts uniform in [0, 1] (the paper's choice for long sequences) and after every
    optimiser step is clipped to |u| <= 2^(1/T), T = the `horizon` option: then a unit's
    gradient grows at most two-fold over T steps, so it neither explodes nor, with u near 1,
    vanishes.
    """

    summary = "IndRNN h = relu(W x + u * h + b), u ~ U[0, 1], |u| <= 2^(1/T) (Li et al. 2018)"
    defaults = {"horizon": 100, "activation": "relu"}
    state_names = ("h",)

    def __init__(self, registry, **options):
        super().__init__(registry, **options)
        self.f = resolve(registry, self.options["activation"])  # any registered activation
        self.u_max = 2.0 ** (1.0 / self.options["horizon"])

    @property
    def n_blocks(self):
        return 1

    def recurrent_params(self, hidden):
        return {"u": RecurrentParam("vector", init=self.init_u)}

    @staticmethod
    def init_u(rng, hidden):
        return rng.uniform(0.0, 1.0, hidden)

    def constrain(self, p):
        np.clip(p["u"], -self.u_max, self.u_max, out=p["u"])

    def step(self, p, a, state):
        (h_prev,) = state  # (S,B,H)
        z = a + p["u"][:, None, :] * h_prev  # u (S,H) broadcast over the batch
        h = self.f(z)
        return (h,), (h_prev, z, h)

    def backward_step(self, p, dstate, cache, grads):
        (dh,) = dstate
        h_prev, z, h = cache
        dz = dh * self.f.deriv(z, h)  # (S,B,H)
        grads["u"] += (dz * h_prev).sum(axis=1)
        dh_prev = dz * p["u"][:, None, :]
        return dz, (dh_prev,)

    def activation_values(self, cache):
        _h_prev, z, h = cache
        return [("h", self.f, z, h)]


class RecurrentWeights(Probe):
    """IndRNN layers: mean and largest |u|, and the share of units held at the clip bound
    2^(1/T), per layer. A unit at the bound keeps its gradient alive over the horizon."""

    name = "indrnn_u"
    summary = "IndRNN recurrent weights: mean and max |u|, share of units at the clip bound"

    def applies(self, net, task):
        return any(isinstance(cell, IndRNN) for cell in getattr(net, "cells", []))

    def measure(self, ctx):
        out = []
        for layer, cell in enumerate(ctx.net.cells):
            u = np.abs(ctx.params[f"l{layer}.u"].astype(np.float64))  # (S, H)
            out += ctx.record(self.name, "u_mean", u.mean(axis=1), layer)
            out += ctx.record(self.name, "u_max", u.max(axis=1), layer)
            at_bound = u >= cell.u_max * (1 - 1e-6)
            out += ctx.record(self.name, "at_bound", at_bound.mean(axis=1), layer)
        return out


@hookimpl
def register_cells(register):
    register("indrnn", IndRNN)


@hookimpl
def register_probes(register):
    register("indrnn_u", RecurrentWeights())
