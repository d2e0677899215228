"""LSTM cell with peepholes, replaceable gate functions and the Greff et al. (2017) ablations."""

import numpy as np

from ablab.core import hookimpl
from ablab.core.activation import resolve
from ablab.core.cell import Cell, RecurrentParam, preset
from ablab.core.errors import ConfigError


class LSTM(Cell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000).

    With a_t = W x_t + b computed before the time loop, sigma the gate activation, phi the
    cell input activation and psi the cell output activation:
        z_t = a_t + h_{t-1} U                       blocks in order [i, f, g, o]
        i_t = sigma(z_i + p_i * c_{t-1})            1 if no_input_gate
        f_t = sigma(z_f + p_f * c_{t-1})            1 if no_forget_gate; 1 - i_t if coupled
        g_t = phi(z_g)                              z_g if no_input_activation
        c_t = f_t * c_{t-1} + i_t * g_t
        o_t = sigma(z_o + p_o * c_t)                1 if no_output_gate
        h_t = o_t * psi(c_t)                        o_t * c_t if no_output_activation
    Peephole weights p are diagonal (vectors) and present only with peepholes = true; the
    output gate peeks at c_t, the others at c_{t-1} (Gers & Schmidhuber 2000). An absent gate
    has no block in W, U and b. The backward step below runs these lines in reverse.
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

    def __init__(self, registry, **options):
        super().__init__(registry, **options)
        o = self.options
        if o["coupled"] and (o["no_input_gate"] or o["no_forget_gate"]):
            raise ConfigError("lstm option coupled (f = 1 - i) needs both the input and the forget gate; "
                              "drop no_input_gate / no_forget_gate or coupled")
        self.sigma = resolve(registry, o["gate_activation"])
        self.phi = None if o["no_input_activation"] else resolve(registry, o["cell_activation"])
        self.psi = None if o["no_output_activation"] else resolve(registry, o["cell_activation"])
        self.has_i = not o["no_input_gate"]
        self.has_f = not (o["no_forget_gate"] or o["coupled"])  # a learned forget gate of its own
        self.has_o = not o["no_output_gate"]
        self.coupled = o["coupled"]
        self.peep = o["peepholes"]
        self.blocks = [b for b, on in (("i", self.has_i), ("f", self.has_f), ("g", True), ("o", self.has_o)) if on]

    @property
    def n_blocks(self):
        return len(self.blocks)

    def _slices(self, hidden):
        return {b: slice(k * hidden, (k + 1) * hidden) for k, b in enumerate(self.blocks)}

    def recurrent_params(self, hidden):
        params = {"U": RecurrentParam("matrix", self.n_blocks)}
        if self.peep:
            for gate in ("i", "f", "o"):
                if gate in self.blocks:
                    params["p_" + gate] = RecurrentParam("vector")
        return params

    def bias_init(self, hidden):
        b = np.zeros(self.n_blocks * hidden)
        if self.has_f:
            b[self._slices(hidden)["f"]] = self.options["forget_bias"]
        return b

    def step(self, p, a, state):
        h_prev, c_prev = state  # (S,B,H) each
        H = h_prev.shape[-1]
        sl = self._slices(H)
        z = a + np.matmul(h_prev, p["U"])  # (S,B,nb*H)
        zi = i = zf = f = zo = o = None
        if self.has_i:
            zi = z[..., sl["i"]]
            if self.peep:
                zi = zi + p["p_i"][:, None, :] * c_prev
            i = self.sigma(zi)  # (S,B,H)
        if self.has_f:
            zf = z[..., sl["f"]]
            if self.peep:
                zf = zf + p["p_f"][:, None, :] * c_prev
            f = self.sigma(zf)  # (S,B,H)
        elif self.coupled:
            f = 1.0 - i
        zg = z[..., sl["g"]]
        g = zg if self.phi is None else self.phi(zg)  # (S,B,H)
        c = (c_prev if f is None else f * c_prev) + (g if i is None else i * g)  # (S,B,H)
        if self.has_o:
            zo = z[..., sl["o"]]
            if self.peep:
                zo = zo + p["p_o"][:, None, :] * c
            o = self.sigma(zo)  # (S,B,H)
        s = c if self.psi is None else self.psi(c)  # (S,B,H)
        h = s if o is None else o * s  # (S,B,H)
        return (h, c), (h_prev, c_prev, zi, i, zf, f, zg, g, c, zo, o, s)

    def backward_step(self, p, dstate, cache, grads):
        dh, dc_next = dstate
        h_prev, c_prev, zi, i, zf, f, zg, g, c, zo, o, s = cache
        sl = self._slices(h_prev.shape[-1])
        dz = np.empty(h_prev.shape[:-1] + (self.n_blocks * h_prev.shape[-1],), dtype=dh.dtype)
        # h = o * s
        if o is not None:
            dzo = dh * s * self.sigma.deriv(zo, o)
            dz[..., sl["o"]] = dzo
            ds = dh * o
        else:
            ds = dh
        # s = psi(c); c also reaches the next step and (with peepholes) the output gate
        dc = dc_next + (ds if self.psi is None else ds * self.psi.deriv(c, s))
        if o is not None and self.peep:
            dc += dzo * p["p_o"][:, None, :]
            grads["p_o"] += np.einsum("sbh,sbh->sh", dzo, c)
        # c = f * c_prev + i * g
        dg = dc if i is None else dc * i
        dz[..., sl["g"]] = dg if self.phi is None else dg * self.phi.deriv(zg, g)
        dc_prev = dc if f is None else dc * f
        if i is not None:
            di = dc * g
            if self.coupled:  # f = 1 - i
                di -= dc * c_prev
            dzi = di * self.sigma.deriv(zi, i)
            dz[..., sl["i"]] = dzi
            if self.peep:
                dc_prev += dzi * p["p_i"][:, None, :]
                grads["p_i"] += np.einsum("sbh,sbh->sh", dzi, c_prev)
        if self.has_f:
            dzf = dc * c_prev * self.sigma.deriv(zf, f)
            dz[..., sl["f"]] = dzf
            if self.peep:
                dc_prev += dzf * p["p_f"][:, None, :]
                grads["p_f"] += np.einsum("sbh,sbh->sh", dzf, c_prev)
        # z = a + h_prev U
        grads["U"] += np.matmul(h_prev.transpose(0, 2, 1), dz)  # (S,H,nb*H)
        dh_prev = np.matmul(dz, p["U"].transpose(0, 2, 1))  # (S,B,H)
        return dz, (dh_prev, dc_prev)

    def gate_values(self, cache):
        h_prev, c_prev, zi, i, zf, f, zg, g, c, zo, o, s = cache
        names = {"input": i, "forget": f, "output": o}
        return {k: v for k, v in names.items() if v is not None}

    def activation_values(self, cache):
        h_prev, c_prev, zi, i, zf, f, zg, g, c, zo, o, s = cache
        out = [("input_gate", zi, i), ("forget_gate", zf, f), ("output_gate", zo, o)]
        out = [t for t in out if t[1] is not None]
        if self.phi is not None:
            out.append(("cell_input", zg, g))
        if self.psi is not None:
            out.append(("cell_output", c, s))
        return out


@hookimpl
def register_cells(register):
    register("lstm", LSTM)
    register("lstm-peephole", preset(LSTM, "LSTM with diagonal peephole connections (Gers & Schmidhuber 2000)", peepholes=True))
    register("lstm-cifg", preset(LSTM, "LSTM with coupled input and forget gate, f = 1 - i (Greff et al. 2017)", coupled=True))
