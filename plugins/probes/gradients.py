"""Probes on gradients through time and the recurrent Jacobian."""

import numpy as np

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
            T, B = len(cache["steps"][l]), ctx.x.shape[2]
            sigmas = []
            chosen = np.unique(np.linspace(1, T - 1, min(self.max_steps, T - 1)).astype(int)) if T > 1 else []
            for t in chosen:  # t >= 1: step 0 starts from the fixed zero state
                for b in range(min(self.examples, B)):
                    jac = net.state_jacobian(params, cache, l, t, b).astype(np.float64)  # (S,n,n)
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
