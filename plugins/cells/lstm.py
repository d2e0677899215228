"""LSTM cell with peepholes, replaceable gate functions and the Greff et al. (2017) ablations."""

import numpy as np

from ablab.core.engine.activation import resolve
from ablab.core.engine.cell import RecurrentParam, preset
from ablab.core.engine.fused_cell import FusedCell
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl


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
    has no block in W, U and b. The backward step below runs these lines in reverse; the
    gradient of U, sum_t h_{t-1}^T dz_t, is hoisted out of the loop into one matmul.
    """

    summary = "LSTM with peepholes, forget bias, replaceable gate functions and Greff et al. ablations"
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
        self.peep = o["peepholes"]
        # Learned gates first and contiguous, so one activation call covers all of them.
        self.gates = [
            g
            for g, on in (
                ("i", not o["no_input_gate"]),
                ("f", not (o["no_forget_gate"] or o["coupled"])),
                ("o", not o["no_output_gate"]),
            )
            if on
        ]
        self.blocks = self.gates + ["g"]
        self._sl_hidden = None
        # Pre-activations whose derivative is read from the output are not kept in the cache:
        # z is then a temporary that the allocator hands back next step, still in cache,
        # instead of T fresh arrays (probes call recompute()).
        self._keep_gz = self.peep or not self.sigma.deriv_from_output
        self._keep_zg = self.phi is not None and not self.phi.deriv_from_output

    @property
    def n_blocks(self):
        return len(self.blocks)

    def _slices(self, hidden):
        if self._sl_hidden != hidden:  # computed once per size: this runs every time step
            self._sl = {b: slice(k * hidden, (k + 1) * hidden) for k, b in enumerate(self.blocks)}
            self._sl_hidden = hidden
        return self._sl

    def recurrent_params(self, hidden):
        params = {"U": RecurrentParam("matrix", self.n_blocks)}
        if self.peep:
            params.update({"p_" + g: RecurrentParam("vector") for g in self.gates})
        return params

    def bias_init(self, hidden):
        b = np.zeros(self.n_blocks * hidden)
        if "f" in self.gates:
            b[self._slices(hidden)["f"]] = self.options["forget_bias"]
        return b

    def step_z(self, p, z, state, recompute):
        h_prev, c_prev = state  # (S,B,H) each
        H = h_prev.shape[-1]
        sl = self._slices(H)
        nG = len(self.gates) * H
        gz = z[..., :nG]  # gate pre-activations (S,B,nG)
        if self.peep:
            gz = gz.copy()
            for g in ("i", "f"):
                if g in self.gates:
                    gz[..., sl[g]] += p["p_" + g][:, None, :] * c_prev
        gates = self.sigma(gz)  # (S,B,nG); o is redone below when it peeks at c_t
        i = gates[..., sl["i"]] if "i" in self.gates else None
        f = gates[..., sl["f"]] if "f" in self.gates else (1.0 - i if self.coupled else None)
        zg = z[..., sl["g"]]
        g = zg if self.phi is None else self.phi(zg)  # (S,B,H)
        ig = g if i is None else i * g
        if f is None:
            c = c_prev + ig  # (S,B,H)
        else:
            c = f * c_prev
            c += ig
        o = None
        if "o" in self.gates:
            if self.peep:
                gz[..., sl["o"]] += p["p_o"][:, None, :] * c
                gates[..., sl["o"]] = self.sigma(gz[..., sl["o"]])
            o = gates[..., sl["o"]]
        s = c if self.psi is None else self.psi(c)  # (S,B,H)
        h = s if o is None else o * s  # (S,B,H)
        return (h, c), (
            h_prev,
            c_prev,
            recompute,
            gz if self._keep_gz else None,
            gates,
            i,
            f,
            o,
            zg if self._keep_zg else None,
            g,
            c,
            s,
        )

    def backward_step(self, p, dstate, cache, grads, out):
        dh, dc_next = dstate
        h_prev, c_prev, _, gz, gates, i, f, o, zg, g, c, s = cache
        H = h_prev.shape[-1]
        sl = self._slices(H)
        dz = out  # (S,B,nb*H)
        # dz[..., :nG] first holds dL/d(gate output); sigma' turns it into dL/d(pre-activation)
        # h = o * s
        if o is not None:
            np.multiply(dh, s, out=dz[..., sl["o"]])
            ds = dh * o
        else:
            ds = dh.copy()
        # s = psi(c); c also reaches the next step and, with peepholes, the output gate
        if self.psi is not None:
            ds *= self.psi.deriv(c, s)
        dc = ds
        dc += dc_next
        if o is not None and self.peep:
            dzo = dz[..., sl["o"]]
            dzo *= self.sigma.deriv(gz[..., sl["o"]], o)
            dc += dzo * p["p_o"][:, None, :]
            grads["p_o"] += np.einsum("sbh,sbh->sh", dzo, c)
        # c = f * c_prev + i * g
        dzg = dz[..., sl["g"]]
        if i is None:
            dzg[...] = dc
        else:
            np.multiply(dc, i, out=dzg)
        if self.phi is not None:
            dzg *= self.phi.deriv(zg, g)
        if i is not None:
            di = np.multiply(dc, g, out=dz[..., sl["i"]])
            if self.coupled:  # f = 1 - i
                di -= dc * c_prev
        if "f" in self.gates:
            np.multiply(dc, c_prev, out=dz[..., sl["f"]])
        dc_prev = dc  # dc is this step's own array: scale it in place, its last use
        if f is not None:
            dc_prev *= f
        # gates = sigma(gz), in one call over the gates not already done
        done = self.peep and o is not None
        pre = slice(0, (len(self.gates) - done) * H)
        dz[..., pre] *= (
            self.sigma.output_deriv(gates[..., pre]) if gz is None else self.sigma.deriv(gz[..., pre], gates[..., pre])
        )
        if self.peep:
            for name in ("i", "f"):
                if name in self.gates:
                    dzx = dz[..., sl[name]]
                    dc_prev += dzx * p["p_" + name][:, None, :]
                    grads["p_" + name] += np.einsum("sbh,sbh->sh", dzx, c_prev)
        # z = a + h_prev U  (dU is hoisted)
        dh_prev = np.matmul(dz, p["U.T"])  # (S,B,H)
        return dz, (dh_prev, dc_prev)

    def gate_values(self, cache):
        h_prev, c_prev, recompute, gz, gates, i, f, o, zg, g, c, s = cache
        names = {"input": i, "forget": f, "output": o}
        return {k: v for k, v in names.items() if v is not None}

    def activation_values(self, cache):
        h_prev, c_prev, recompute, gz, gates, i, f, o, zg, g, c, s = cache
        H = h_prev.shape[-1]
        sl = self._slices(H)
        if gz is None or (zg is None and self.phi is not None):
            z = recompute()  # as step() had it (no peepholes here)
            gz = z[..., : len(self.gates) * H] if gz is None else gz
            zg = z[..., sl["g"]] if zg is None else zg
        out = [
            (name + "_gate", self.sigma, gz[..., sl[k]], gates[..., sl[k]])
            for k, name in (("i", "input"), ("f", "forget"), ("o", "output"))
            if k in self.gates
        ]
        if self.phi is not None:
            out.append(("cell_input", self.phi, zg, g))
        if self.psi is not None:
            out.append(("cell_output", self.psi, c, s))
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
