"""LSTM cell with peepholes, replaceable gate functions and the Greff et al. (2017) ablations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ablab.core.engine.activation import resolve
from ablab.core.engine.cell import RecurrentParam, preset
from ablab.core.engine.fused_cell import FusedCell
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl
from ablab.plugins.cells import lstm_kernel


class LSTMCache(NamedTuple):
    """What one step keeps for backward_step and the probes. Arrays are (S, B, H) unless said;
    i, f and o are None for an absent gate (f is 1 - i when coupled). Block arrays are kept
    with the batch on axis 1, (S, B, n_gates, H), as views `x.swapaxes(1, 2)` of the step's
    (S, n_gates, B, H) arrays (the cache rule in cell.py)."""

    h_prev: np.ndarray
    c_prev: np.ndarray
    recompute: Callable[[], np.ndarray]  # z_t again, for the pre-activations left out below
    z_gates: np.ndarray | None  # (S, B, n_gates, H), peepholes included; None when sigma' reads the output
    gates: np.ndarray  # sigma(z_gates), the learned gates, (S, B, n_gates, H)
    i: np.ndarray | None
    f: np.ndarray | None
    o: np.ndarray | None
    z_g: np.ndarray | None  # kept only when phi' needs its input
    g: np.ndarray  # phi(z_g)
    c: np.ndarray
    psi_c: np.ndarray  # psi(c_t)


@dataclass(frozen=True)
class Layout:
    """Block indices of z_t, (S, n_blocks, B, H): one block per learned gate, then g."""

    i: int | None
    f: int | None
    o: int | None
    g: int
    gates: slice  # all learned gates, contiguous so one sigma call covers them
    together: slice  # the gates whose sigma' backward_step applies in one call (not a peeping o)
    peek_at_c_prev: tuple[tuple[int, str], ...]  # (block, peephole name) of i and f, with peepholes


class LSTM(FusedCell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000).

    With a_t = W x_t + b computed before the time loop, sigma the gate activation, phi the
    cell input activation and psi the cell output activation:
        z_t = a_t + h_{t-1} U                       blocks in order [i, f, o, g]
        i_t = sigma(z_i + p_i * c_{t-1})            1 if no_input_gate
        f_t = sigma(z_f + p_f * c_{t-1})            1 if no_forget_gate; 1 - i_t if coupled
        g_t = phi(z_g)                              z_g if no_input_activation
        c_t = f_t * c_{t-1} + i_t * g_t
        o_t = sigma(z_o + p_o * c_t)                1 if no_output_gate
        h_t = o_t * psi(c_t)                        o_t * c_t if no_output_activation
    Peephole weights p are diagonal (vectors) and present only with peepholes = true; the
    output gate peeks at c_t, the others at c_{t-1} (Gers & Schmidhuber 2000). An absent gate
    has no block in W, U and b. backward_step runs these lines in reverse, each block under
    its forward line; the gradient of U, sum_t h_{t-1}^T dz_t, is hoisted out of the loop.
    """

    summary = "LSTM with peepholes, forget bias, replaceable gate functions and Greff et al. ablations"
    activation_option = "cell_activation"
    defaults = {
        "forget_bias": 1.0,
        "peepholes": False,
        "gate_activation": "sigmoid",
        "cell_activation": "tanh",
        "no_input_gate": False,
        "no_forget_gate": False,
        "no_output_gate": False,
        "no_input_activation": False,
        "no_output_activation": False,
        "coupled": False,
    }
    state_names = ("h", "c")
    fused_matrix = "U"  # z_t = a_t + h_{t-1} U: step() comes from FusedCell, dU is hoisted
    block_major = True  # z_t and dz_t are (S, n_blocks, B, H): each gate a contiguous array
    chunk_input_grads = True  # the compiled backward_steps sums dW, db and dU step by step (promise 8)

    def __init__(self, registry, **options):
        super().__init__(registry, **options)
        o = self.options
        if o["coupled"] and (o["no_input_gate"] or o["no_forget_gate"]):
            raise ConfigError(
                "lstm option coupled (f = 1 - i) needs both the input and the forget gate; "
                "drop no_input_gate / no_forget_gate or coupled"
            )
        self.sigma = resolve(registry, o["gate_activation"])
        self.phi = None if o["no_input_activation"] else resolve(registry, o["cell_activation"])
        self.psi = None if o["no_output_activation"] else resolve(registry, o["cell_activation"])
        self.coupled = o["coupled"]
        self.peepholes = o["peepholes"]
        self.has_i = not o["no_input_gate"]
        self.has_f = not (o["no_forget_gate"] or o["coupled"])  # a coupled f is 1 - i, not learned
        self.has_o = not o["no_output_gate"]
        self.gates = [name for name, on in (("i", self.has_i), ("f", self.has_f), ("o", self.has_o)) if on]
        self.blocks = self.gates + ["g"]
        # Pre-activations whose derivative is read from the output are not kept in the cache:
        # z is then a temporary that the allocator hands back next step, instead of T fresh
        # arrays held until the backward pass (probes call recompute()).
        self.keep_z_gates = self.peepholes or not self.sigma.deriv_from_output
        self.keep_z_g = self.phi is not None and not self.phi.deriv_from_output
        self._layouts: dict[int, Layout] = {}
        # The standard option set's backward arithmetic runs as one compiled loop (lstm_kernel.py).
        self.compiled_backward = (
            o["gate_activation"] == "sigmoid"
            and o["cell_activation"] == "tanh"
            and not (self.peepholes or self.coupled)
            and self.has_i
            and self.has_f
            and self.has_o
            and self.phi is not None
            and self.psi is not None
        )

    @property
    def n_blocks(self):
        return len(self.blocks)

    def layout(self, hidden: int) -> Layout:
        """The block indices (the same for every hidden size), computed once: step_z runs every
        time step."""
        if hidden not in self._layouts:
            blocks = {b: k for k, b in enumerate(self.blocks)}
            n_gates = len(self.gates)
            n_together = n_gates - 1 if self.peepholes and self.has_o else n_gates  # o is last of the gates
            self._layouts[hidden] = Layout(
                i=blocks.get("i"),
                f=blocks.get("f"),
                o=blocks.get("o"),
                g=blocks["g"],
                gates=slice(0, n_gates),
                together=slice(0, n_together),
                peek_at_c_prev=tuple((blocks[g], "p_" + g) for g in ("i", "f") if g in blocks and self.peepholes),
            )
        return self._layouts[hidden]

    def recurrent_params(self, hidden):
        params = {"U": RecurrentParam("matrix", self.n_blocks)}
        if self.peepholes:
            params.update({"p_" + g: RecurrentParam("vector") for g in self.gates})
        return params

    def bias_init(self, hidden):
        b = np.zeros(self.n_blocks * hidden)
        if self.has_f:
            f = self.layout(hidden).f
            b[f * hidden : (f + 1) * hidden] = self.options["forget_bias"]
        return b

    def new_tape(self, S, T, B, H, dtype):
        """A Tape for the standard option set (the compiled backward_steps reads it), else None.
        A subclass that changes step_z or backward_step keeps the per-step path."""
        cls = type(self)
        own = cls.step_z is LSTM.step_z and cls.backward_step is LSTM.backward_step
        return lstm_kernel.Tape(S, T, B, H, dtype) if self.compiled_backward and own else None

    def backward_steps(self, p, dstate, tape, start, end, dhs, window, da, rows=None, sums=None):
        return lstm_kernel.backward_steps(p["U.T"], dstate, tape, start, end, dhs, window, da, rows, sums)

    def forward_steps(self, p, XH, WbU, tape):
        return lstm_kernel.forward_steps(WbU, XH, tape)

    def step_z(self, p, z, state, recompute, tape=None, t=0):
        h_prev, c_prev = state
        if tape is not None:
            return self._step_z_taped(z, h_prev, c_prev, recompute, tape, t)
        H = c_prev.shape[-1]
        at = self._layouts.get(H) or self.layout(H)  # runs every step: no method call once known
        # i, f, o = sigma(z_{i,f,o} + p_{i,f} * c_{t-1})      (a peeping o is redone below)
        z_gates = z[:, at.gates]
        if self.peepholes:
            z_gates = z_gates.copy()  # z stays what recompute() returns
            for k, peephole in at.peek_at_c_prev:
                z_gates[:, k] += p[peephole][:, None, :] * c_prev
        gates = self.sigma.fn(z_gates)
        i = gates[:, at.i] if self.has_i else None
        if self.has_f:
            f = gates[:, at.f]
        else:
            f = 1.0 - i if self.coupled else None
        # g = phi(z_g)
        z_g = z[:, at.g]
        g = z_g if self.phi is None else self.phi.fn(z_g)
        # c = f * c_prev + i * g
        c = c_prev.copy() if f is None else f * c_prev
        c += g if i is None else i * g
        # o = sigma(z_o + p_o * c)
        if self.has_o and self.peepholes:
            z_gates[:, at.o] += p["p_o"][:, None, :] * c
            gates[:, at.o] = self.sigma.fn(z_gates[:, at.o])
        o = gates[:, at.o] if self.has_o else None
        # h = o * psi(c)
        psi_c = c if self.psi is None else self.psi.fn(c)
        h = psi_c if o is None else o * psi_c
        # positional, in LSTMCache's field order (h_prev, c_prev, recompute, z_gates, gates, i, f, o, z_g, g, c, psi_c)
        # the block arrays with the batch on axis 1 (swapaxes is a view)
        z_gates_kept = z_gates.swapaxes(1, 2) if self.keep_z_gates else None
        z_g_kept = z_g if self.keep_z_g else None
        return (h, c), LSTMCache(
            h_prev, c_prev, recompute, z_gates_kept, gates.swapaxes(1, 2), i, f, o, z_g_kept, g, c, psi_c
        )

    @staticmethod
    def _step_z_taped(z, h_prev, c_prev, recompute, tape, t):
        """step_z of the standard option set, its arrays written into the tape's slot t: the
        same operations in the same order as the general code above (bit-identical, tested)."""
        gates = tape.gates[t]  # (S, 3, B, H): i, f, o = sigma(z_{i,f,o}) as the sigmoid plugin computes it
        np.multiply(z[:, :3], 0.5, out=gates)
        np.tanh(gates, out=gates)
        gates *= 0.5
        gates += 0.5
        i, f, o = gates[:, 0], gates[:, 1], gates[:, 2]
        g = np.tanh(z[:, 3], out=tape.g[t])
        c = np.multiply(f, c_prev, out=tape.c[t + 1])
        c += i * g
        psi_c = np.tanh(c, out=tape.psi_c[t])
        h = o * psi_c
        return (h, c), LSTMCache(h_prev, c_prev, recompute, None, gates.swapaxes(1, 2), i, f, o, None, g, c, psi_c)

    def backward_step(self, p, dstate, cache, grads, out):
        dh, dc_next = dstate
        H = dh.shape[-1]
        if self.compiled_backward:
            dc_prev = lstm_kernel.backward_elementwise(dh, dc_next, cache, out)
            return out, (self._dh_prev(p, out, H), dc_prev)
        at = self._layouts.get(H) or self.layout(H)
        dz = out  # dL/dz_t, (S, n_blocks, B, H) in [gates..., g]: ablab's buffer for da_t (da_t = dz_t)
        gates = cache.gates.swapaxes(1, 2)  # (S, n_gates, B, H) again
        z_gates = None if cache.z_gates is None else cache.z_gates.swapaxes(1, 2)
        d_gates = np.empty(gates.shape, dtype=gates.dtype)  # dL/d(gate outputs), before sigma'
        # h = o * psi(c)
        if cache.o is None:
            dc = dh.copy()  # dL/dpsi(c), made dL/dc in place below
        else:
            np.multiply(dh, cache.psi_c, out=d_gates[:, at.o])
            dc = dh * cache.o
        if self.psi is not None:
            dc *= self.psi.deriv(cache.c, cache.psi_c)
        dc += dc_next  # c_t also carries into step t+1
        # o = sigma(z_o + p_o * c)
        if self.has_o and self.peepholes:
            o = at.o
            z_o = None if z_gates is None else z_gates[:, o]
            dz_o = np.multiply(d_gates[:, o], self.sigma.deriv(z_o, gates[:, o]), out=dz[:, o])
            dc += dz_o * p["p_o"][:, None, :]
            grads["p_o"] += np.einsum("sbh,sbh->sh", dz_o, cache.c)
        # c = f * c_prev + i * g
        dg = dc if cache.i is None else dc * cache.i
        if cache.i is not None:
            np.multiply(dc, cache.g, out=d_gates[:, at.i])
            if self.coupled:  # f = 1 - i
                d_gates[:, at.i] -= dc * cache.c_prev
        if self.has_f:
            np.multiply(dc, cache.c_prev, out=d_gates[:, at.f])
        dc_prev = dc if cache.f is None else dc * cache.f
        # g = phi(z_g)
        if self.phi is None:
            dz[:, at.g] = dg
        else:
            np.multiply(dg, self.phi.deriv(cache.z_g, cache.g), out=dz[:, at.g])
        # i, f, o = sigma(z_{i,f,o} + p_{i,f} * c_{t-1})      (one call over the gates not done above)
        together = at.together
        z_together = None if z_gates is None else z_gates[:, together]
        np.multiply(d_gates[:, together], self.sigma.deriv(z_together, gates[:, together]), out=dz[:, together])
        for k, peephole in at.peek_at_c_prev:
            dz_gate = dz[:, k]
            dc_prev += dz_gate * p[peephole][:, None, :]  # dc_prev owns its memory: dc is this step's array
            grads[peephole] += np.einsum("sbh,sbh->sh", dz_gate, cache.c_prev)
        return dz, (self._dh_prev(p, dz, H), dc_prev)

    @staticmethod
    def _dh_prev(p, dz, H):
        """z = a + h_prev U (dU = sum_t h_prev^T dz is hoisted: ablab computes it after the loop), so
        dh_prev = sum_k dz_k U_k^T, U^T's row block k being U_k^T: (S, nb, B, H) x (S, nb, H, H)."""
        UT = p["U.T"]
        return np.matmul(dz, UT.reshape(UT.shape[0], -1, H, H)).sum(axis=1)

    def gate_values(self, cache):
        named = {"input": cache.i, "forget": cache.f, "output": cache.o}
        return {name: v for name, v in named.items() if v is not None}

    def activation_values(self, cache):
        at = self.layout(cache.h_prev.shape[-1])
        z_gates = None if cache.z_gates is None else cache.z_gates.swapaxes(1, 2)
        z_g = cache.z_g
        if z_gates is None or (z_g is None and self.phi is not None):
            z = cache.recompute()  # as step_z had it (no peepholes here: with them z_gates is kept)
            z_gates = z[:, at.gates] if z_gates is None else z_gates
            z_g = z[:, at.g] if z_g is None else z_g
        gates = cache.gates.swapaxes(1, 2)
        out = [
            (name + "_gate", self.sigma, z_gates[:, k], gates[:, k])
            for k, name in ((at.i, "input"), (at.f, "forget"), (at.o, "output"))
            if k is not None
        ]
        if self.phi is not None:
            out.append(("cell_input", self.phi, z_g, cache.g))
        if self.psi is not None:
            out.append(("cell_output", self.psi, cache.c, cache.psi_c))
        return out


@hookimpl
def register_cells(register):
    register("lstm", LSTM)
    register(
        "lstm-peephole",
        preset(LSTM, "LSTM with diagonal peephole connections (Gers & Schmidhuber 2000)", peepholes=True),
    )
    register(
        "lstm-cifg",
        preset(LSTM, "LSTM with coupled input and forget gate, f = 1 - i (Greff et al. 2017)", coupled=True),
    )
