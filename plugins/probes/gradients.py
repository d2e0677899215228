"""Probes on gradients through time and the recurrent Jacobian."""

import numpy as np

from ablab.core.engine.cell import with_transposes
from ablab.core.engine.losses import LOSSES
from ablab.core.engine.probe import Probe, is_recurrent
from ablab.plugin import hookimpl


def fit_eta(norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-step factor eta from ||dL/dh_k|| against lag T-1-k: log n = c + lag log eta, and
    the fit's R^2 (1: the norm is exactly geometric in the lag). norms (S, T). Zero norms
    (underflow) are left out; NaN where fewer than 2 points remain."""
    S, T = norms.shape
    lag = (T - 1 - np.arange(T)).astype(np.float64)
    eta, r2 = np.full(S, np.nan), np.full(S, np.nan)
    for s in range(S):
        ok = norms[s] > 0
        if ok.sum() >= 2:
            y = np.log(norms[s, ok])
            slope, intercept = np.polyfit(lag[ok], y, 1)
            eta[s] = np.exp(slope)
            resid = y - (slope * lag[ok] + intercept)
            total = ((y - y.mean()) ** 2).sum()
            r2[s] = 1.0 - (resid**2).sum() / total if total > 0 else 1.0
    return eta, r2


class GradThroughTime(Probe):
    """||dL/dh_k|| of the top layer for every step k when only the last step's loss counts,
    and the per-step factor eta fitted to it (Pascanu et al. 2013: the norm behaves like
    eta^(T-k); eta < 1 vanishes, eta > 1 explodes). index = lag T-1-k."""

    name = "grad_through_time"
    summary = "||dL/dh_k|| against lag from the last step, and the fitted per-step factor eta"

    def applies(self, net, task):
        return is_recurrent(net)

    def measure(self, ctx):
        net, params = ctx.net, ctx.params
        y, cache = ctx.forward
        _, dy = LOSSES[ctx.task.loss](y, ctx.batch.y, ctx.batch.mask)
        if net.readout == "all":  # keep only the last step's loss
            dy = dy.copy()
            dy[:, :-1] = 0.0
        trace: dict = {}
        net.backward(params, dy, cache, None, trace, input_grad=False)
        dh = trace["dh"][-1].astype(np.float64)  # (S,T,B,H)
        S, T = dh.shape[:2]
        norms = np.sqrt((dh * dh).reshape(S, T, -1).sum(axis=2))  # (S,T)
        out = []
        for k in range(T):
            out += ctx.record(self.name, "norm", norms[:, k], len(net.cells) - 1, T - 1 - k)
        eta, r2 = fit_eta(norms)
        out += ctx.record(self.name, "eta", eta, len(net.cells) - 1)
        out += ctx.record(self.name, "fit_r2", r2, len(net.cells) - 1)
        return out


def _example(cache, b: int, reps: int):
    """One example's cache, repeated `reps` times along the batch axis."""
    if cache is None:
        return None
    if isinstance(cache, np.ndarray):
        return np.repeat(cache[:, b : b + 1], reps, axis=1)
    if isinstance(cache, (tuple, list)):
        return type(cache)(_example(c, b, reps) for c in cache)
    if isinstance(cache, dict):
        return {k: _example(c, b, reps) for k, c in cache.items()}
    return cache


def state_jacobian(cell, p_back: dict, cache, b: int, hidden: int) -> np.ndarray:
    """J for example b at one step: (S, n, n) with n = len(state_names) * hidden and
    J[i, j] = d s_t[i] / d s_{t-1}[j], s the concatenated state. Row r of J is what
    backward_step returns for dstate = e_r; all n rows run at once along the batch axis."""
    H, k = hidden, len(cell.state_names)
    n = k * H
    some = next(iter(p_back.values()))
    eye = np.eye(n, dtype=some.dtype)
    dstate = tuple(np.broadcast_to(eye[None, :, j * H : (j + 1) * H], (some.shape[0], n, H)).copy() for j in range(k))
    sink = {name: np.zeros_like(v) for name, v in p_back.items()}  # parameter grads, unused
    _, dprev = cell.backward_step(p_back, dstate, _example(cache, b, n), sink)
    return np.concatenate(dprev, axis=-1)


class Jacobian(Probe):
    """Top singular value of the state-to-state Jacobian d s_t / d s_{t-1} (s = h, or (h, c)
    for the LSTM), averaged over steps and probe examples, and for each square block of each
    recurrent matrix its spectral radius and top singular value (index = block)."""

    name = "jacobian"
    summary = "top singular value of ds_t/ds_{t-1}; spectral radius and norm of recurrent blocks"
    examples = 4
    max_steps = 10

    def applies(self, net, task):
        return is_recurrent(net)

    def measure(self, ctx):
        net, params = ctx.net, ctx.params
        _, cache = ctx.forward
        out = []
        H = net.spec.hidden
        for l, cell in enumerate(net.cells):
            steps = cache["steps"][l]
            T, B = len(steps), ctx.x.shape[2]
            p = with_transposes(cell, net.layer(params, l), H)
            sigmas = []
            chosen = np.unique(np.linspace(1, T - 1, min(self.max_steps, T - 1)).astype(int)) if T > 1 else []
            for t in chosen:  # t >= 1: step 0 starts from the fixed zero state
                for b in range(min(self.examples, B)):
                    jac = state_jacobian(cell, p, steps[t], b, H).astype(np.float64)  # (S,n,n)
                    sigmas.append(np.linalg.svd(jac, compute_uv=False)[:, 0])
            if sigmas:
                out += ctx.record(self.name, "jacobian_sigma_max", np.mean(sigmas, axis=0), l)
            for name, rp in cell.recurrent_params(H).items():
                if rp.kind != "matrix":
                    continue
                U = params[f"l{l}.{name}"].astype(np.float64)
                radii, sigmas_u = [], []
                for k in range(rp.blocks):
                    block = U[:, :, k * H : (k + 1) * H]
                    radii.append(np.abs(np.linalg.eigvals(block)).max(axis=1))
                    sigmas_u.append(np.linalg.svd(block, compute_uv=False)[:, 0])
                    out += ctx.record(self.name, f"{name}.radius", radii[-1], l, k)
                    out += ctx.record(self.name, f"{name}.sigma_max", sigmas_u[-1], l, k)
                # index -1: the largest over the gate blocks
                out += ctx.record(self.name, f"{name}.radius", np.max(radii, axis=0), l)
                out += ctx.record(self.name, f"{name}.sigma_max", np.max(sigmas_u, axis=0), l)
        return out


@hookimpl
def register_probes(register):
    for probe in (GradThroughTime(), Jacobian()):
        register(probe.name, probe)
