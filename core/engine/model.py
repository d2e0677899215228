"""Stacked recurrent network: input projection -> cell layers -> linear readout, with BPTT.

Every parameter, activation and gradient has a leading ensemble axis S. Parameters live in
one flat dict ("l0.W", "l0.U", "out.V", ...) so optimisers and clipping treat them alike.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.cell import cell_options, constrains
from ablab.core.engine.fused_cell import backward_into, backward_params, block_major, blocks_of, hoisted, step_shape
from ablab.core.engine.gradcheck import check_model
from ablab.core.engine.initializer import draw
from ablab.core.engine.options import name_and_options
from ablab.core.engine.spec import from_dict, one_of, positive, positive_int
from ablab.core.engine.train import fit_by_gradient
from ablab.core.errors import ConfigError, PluginError

# Bytes of da_t per ensemble member that the backward pass holds at once (see backward):
# 32 steps at batch 32, 4 * 128 columns, float32; the medium LSTM ensemble of 16 then holds
# 32 MiB of da instead of 105 MiB, and a matmul over 1024 rows is as fast per row.
DA_CHUNK_BYTES = 2 * 2**20


@dataclass(frozen=True)
class RecurrentSpec:
    """What a recurrent model is made of. Defaults follow common practice: Xavier input
    weights, orthogonal recurrent weights (Saxe et al. 2014), one layer."""

    n_in: int
    n_out: int
    hidden: int = 32
    cell: str = "lstm"
    cell_options: dict = field(default_factory=dict)
    activation: Any = None  # the cell's main activation under its own option name (Cell.activation_option)
    layers: int = 1
    input_init: Any = "xavier"  # a name, or {name = ..., option = value}
    recurrent_init: Any = "orthogonal"
    spectral_radius: float | None = None  # rescale each recurrent block to this radius
    readout: str = "last"  # "last": one output per sequence; "all": an output every step
    embedding: Any = None  # token tasks: an embedding name or {name = ..., dim = ...}
    vocab: int | None = None  # token tasks: vocabulary size (set from the task)

    def __post_init__(self):
        positive_int(self.n_in, "model.n_in")
        positive_int(self.n_out, "model.n_out")
        positive_int(self.hidden, "model.hidden")
        positive_int(self.layers, "model.layers")
        one_of(self.readout, "model.readout", ("last", "all"))
        if self.spectral_radius is not None:
            positive(self.spectral_radius, "model.spectral_radius")
        if self.embedding is not None and self.vocab is None:
            raise ConfigError("model.embedding needs a token task (one with a vocabulary)")


def _init_spec(registry, spec: Any, where: str):
    name, opts = name_and_options(spec, where)
    init = registry.get("initializer", name)
    return init, init.check_options(opts)


def sums_input_grads(cell) -> bool:
    """FusedCell promise 8 holds: chunk_input_grads, and a backward_steps that takes sums (a
    subclass that overrides it with promise 6's signature only keeps one product per chunk)."""
    return getattr(cell, "chunk_input_grads", False) and _takes_sums(type(cell))


@functools.cache
def _takes_sums(cls) -> bool:  # once per class: the backward asks for every layer of every step
    return "sums" in inspect.signature(cls.backward_steps).parameters


class RecurrentNet:
    """A resolved RecurrentSpec: cell instances and initialisers looked up in the registry."""

    kind = "recurrent"
    recurrent = True

    @classmethod
    def from_config(cls, model: dict, task, registry) -> RecurrentNet:
        if task.readout == "vector":
            raise ConfigError('the task is not a sequence task (readout "vector"); use model.kind = "feedforward"')
        model = dict(model)
        io = {"n_in": task.n_in, "n_out": task.n_out, "readout": task.readout}
        if task.vocab is not None:  # token inputs go through an embedding, one-hot unless chosen
            io.update(vocab=task.vocab, embedding=model.pop("embedding", "onehot"))
        net = cls(from_dict(RecurrentSpec, {**model, **io}, "model"), registry)
        if net.embedding is not None:
            net.embedding.attach(task)
        return net

    def fit(self, task, spec, seeds, probes):
        return fit_by_gradient(self, task, spec, seeds, probes)

    def gradcheck(self, tol: float, seed: int = 0) -> dict[str, float]:
        return check_model(self, tol=tol, seed=seed)

    def __init__(self, spec: RecurrentSpec, registry):
        self.spec = spec
        self.embedding = None
        if spec.embedding is not None:
            name, opts = name_and_options(spec.embedding, "model.embedding")
            self.embedding = registry.create("embedding", name, registry, spec.vocab, **opts)
        cell_cls = registry.get("cell", spec.cell)
        options = cell_options(cell_cls, spec.cell, spec.cell_options, spec.activation)
        self.cells = [registry.create("cell", spec.cell, registry, **options) for _ in range(spec.layers)]
        # Per layer, the matrix folded into the per-step matmul (FusedCell.step_z), or None.
        self.fused = [cell.fused_matrix if cell.fused else None for cell in self.cells]
        # Per layer, whether a_t, z_t and da_t are block-major, (S, nb, B, H) (FusedCell.block_major).
        self.block_major = [block_major(cell) for cell in self.cells]
        self.constrained = [constrains(cell) for cell in self.cells]  # see Cell.constrain
        self.input_init = _init_spec(registry, spec.input_init, "model.input_init")
        self.recurrent_init = _init_spec(registry, spec.recurrent_init, "model.recurrent_init")
        H = spec.hidden
        self.layer_keys = [["W", "b", *cell.recurrent_params(H)] for cell in self.cells]

    @property
    def readout(self) -> str:
        """ "last" or "all", from the spec."""
        return self.spec.readout

    # -- parameters ----------------------------------------------------------------------
    def init_member(self, seed: int) -> dict[str, np.ndarray]:
        """float64 parameters of one member; a member's draw depends on its seed alone."""
        rng = streams.rng(seed, streams.INIT)
        spec, H = self.spec, self.spec.hidden
        params: dict[str, np.ndarray] = {}
        n_in = spec.n_in
        if self.embedding is not None:
            emb_rng = streams.rng(seed, streams.EMBED)
            params.update({f"emb.{k}": v for k, v in self.embedding.init_member(emb_rng).items()})
            n_in = self.embedding.dim
        for l, cell in enumerate(self.cells):
            init, opts = self.input_init
            params[f"l{l}.W"] = draw(init, opts, rng, n_in, H, cell.n_blocks)
            params[f"l{l}.b"] = np.asarray(cell.bias_init(H), dtype=np.float64)
            for name, rp in cell.recurrent_params(H).items():
                params[f"l{l}.{name}"] = self._recurrent_param(cell, name, rp, rng)
            n_in = H
        init, opts = self.input_init
        params["out.V"] = draw(init, opts, rng, H, spec.n_out)
        params["out.c"] = np.zeros(spec.n_out)
        return params

    def _recurrent_param(self, cell, name: str, rp, rng: np.random.Generator) -> np.ndarray:
        H = self.spec.hidden
        if rp.init is not None:  # the cell owns this parameter's initialisation
            value = np.asarray(rp.init(rng, H), dtype=np.float64)
            if value.shape != rp.shape(H):
                raise PluginError(
                    f"cell {type(cell).__name__}: init of {rp.kind} {name!r} returned shape {value.shape}, "
                    f"expected {rp.shape(H)} for hidden = {H}"
                )
            return value
        if rp.kind == "matrix":
            init, opts = self.recurrent_init
            return draw(init, opts, rng, H, H, rp.blocks, self.spec.spectral_radius)
        return np.zeros(H)

    def constrain(self, params: dict) -> None:
        """Let each cell constrain its parameters in place (after an optimiser step)."""
        for l, cell in enumerate(self.cells):
            if self.constrained[l]:
                cell.constrain(self.layer(params, l))

    def init(self, seeds: list[int], dtype=np.float32) -> dict[str, np.ndarray]:
        """Parameters of an ensemble, one member per seed, stacked on axis 0."""
        members = [self.init_member(s) for s in seeds]
        return {k: np.stack([m[k] for m in members]).astype(dtype) for k in members[0]}

    def embedding_params(self, params: dict) -> dict[str, np.ndarray]:
        """The embedding's parameters, without their "emb." prefix."""
        return {k[4:]: v for k, v in params.items() if k.startswith("emb.")}

    def layer(self, params: dict, l: int) -> dict[str, np.ndarray]:
        """Layer l's parameters by short name ("W", "b", "U", ...), the arrays themselves."""
        return {k: params[f"l{l}.{k}"] for k in self.layer_keys[l]}

    # -- forward and backward through time -------------------------------------------------
    def forward(self, params: dict, x: np.ndarray, train: bool = False) -> tuple[np.ndarray, dict]:
        """x (S,T,B,D), or tokens (S,T,B) with an embedding -> y (S,B,O) for readout 'last'
        or (S,T,B,O) for 'all'. train=True (training's forward, whose backward reads only the
        tapes): a cell's whole-layer forward_steps where it offers one, without per-step caches."""
        tokens = None
        if self.embedding is not None:
            tokens = x
            x = self.embedding.forward(self.embedding_params(params), tokens).astype(params["out.V"].dtype, copy=False)
        S, T, B, _ = x.shape
        H = self.spec.hidden
        caches, rows, tapes = [], [], []
        inp = x
        for l, cell in enumerate(self.cells):
            p = self.layer(params, l)
            state = tuple(np.zeros((S, B, H), dtype=x.dtype) for _ in cell.state_names)
            steps = []
            # Slot t of XH holds [x_t, 1, h_{t-1}]; each step writes h_t into slot t+1. XH[:, :T]
            # is the left factor of both the projection and the backward's one matmul for dW,
            # db and every hoisted dU; XH[:, 1:, :, D+1:] is the layer's output sequence.
            D = inp.shape[-1]
            XH = np.empty((S, T + 1, B, D + 1 + H), dtype=x.dtype)
            XH[:, :T, :, :D] = inp
            XH[:, T, :, :D] = 0.0  # slot T only holds h_T
            XH[..., D] = 1.0
            XH[:, 0, :, D + 1 :] = 0.0  # h_0
            Wb = np.concatenate([p["W"], p["b"][:, None, :]], axis=1)  # (S, D+1, nb*H)
            blocks = self.block_major[l]
            tape = None  # a FusedCell's record of the whole layer, for its backward_steps
            if self.fused[l] is None:
                X = XH[:, :T, :, : D + 1].reshape(S, T * B, D + 1)
                if blocks:  # a[:, k] = x W_k + b_k, (S, nb, T, B, H)
                    a = np.matmul(X[:, None], blocks_of(Wb, H)).reshape(S, -1, T, B, H)
                else:
                    a = np.matmul(X, Wb).reshape(S, T, B, -1)  # x_t W + b
                for t in range(T):
                    state, cache = cell.step(p, a[:, :, t] if blocks else a[:, t], state)
                    XH[:, t + 1, :, D + 1 :] = state[0]
                    steps.append(cache)
            else:
                WbU = np.concatenate([Wb, p[self.fused[l]]], axis=1)  # z_t = [x_t, 1, h_{t-1}] [W; b; U]
                tape = cell.new_tape(S, T, B, H, x.dtype)
                taped = () if tape is None else (tape,)
                # FusedCell promise 7: the whole layer in one call, no per-step caches
                whole = train and tape is not None and cell.forward_steps(p, XH, WbU, tape) is not None
                if blocks and not whole:  # z_t[:, k] = [x_t, 1, h_{t-1}] [W; b; U]_k: every block contiguous
                    WbU = np.ascontiguousarray(blocks_of(WbU, H))  # (S, nb, R, H)
                for t in range(0 if whole else T):
                    xh = XH[:, t, None] if blocks else XH[:, t]
                    z = np.matmul(xh, WbU)
                    recompute = functools.partial(np.matmul, xh, WbU)
                    state, cache = (
                        cell.step_z(p, z, state, recompute, *taped, t) if taped else cell.step_z(p, z, state, recompute)
                    )
                    XH[:, t + 1, :, D + 1 :] = state[0]
                    steps.append(cache)
            hs = XH[:, 1:, :, D + 1 :]  # (S,T,B,H), a view
            rows.append(XH[:, :T])
            caches.append(steps)
            tapes.append(tape)
            inp = hs
        V, c = params["out.V"], params["out.c"]
        if self.spec.readout == "last":
            y = np.matmul(inp[:, -1], V) + c[:, None, :]  # (S,B,O)
        else:
            y = np.matmul(inp.reshape(S, T * B, H), V).reshape(S, T, B, -1) + c[:, None, None, :]
        return y, {"steps": caches, "rows": rows, "top": inp, "tokens": tokens, "tapes": tapes}

    def backward(
        self,
        params: dict,
        dy: np.ndarray,
        cache: dict,
        window: int | None = None,
        trace: dict | None = None,
        input_grad: bool = True,
    ):
        """Gradients of the loss for every parameter, and dx. `window` truncates BPTT: no
        gradient crosses from step t to t-1 when t is a multiple of window. With `trace`,
        trace["dh"][l] receives dL/dh_t of layer l for every step, (S,T,B,H). With
        input_grad=False, dx is not computed (training has no use for it) and None returned."""
        if trace is not None:
            trace["dh"] = [None] * len(self.cells)
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        top = cache["top"]
        S, T, B, H = top.shape
        V = params["out.V"]
        if self.spec.readout == "last":
            grads["out.V"][:] = np.matmul(top[:, -1].transpose(0, 2, 1), dy)  # (S,H,O)
            grads["out.c"][:] = dy.sum(axis=1)
            dhs = None  # only h_T meets the loss: dh_last seeds the top layer's backward pass
            dh_last = np.matmul(dy, V.transpose(0, 2, 1))  # (S,B,H)
        else:
            dyf = dy.reshape(S, T * B, -1)
            grads["out.V"][:] = np.matmul(top.reshape(S, T * B, H).transpose(0, 2, 1), dyf)
            grads["out.c"][:] = dyf.sum(axis=1)
            dhs = np.matmul(dyf, V.transpose(0, 2, 1)).reshape(S, T, B, H)
        for l in reversed(range(len(self.cells))):
            cell, p, steps = self.cells[l], self.layer(params, l), cache["steps"][l]
            pb = backward_params(cell, p, H)
            g = {k: grads[f"l{l}.{k}"] for k in self.layer_keys[l] if k not in ("W", "b")}
            nbH = p["W"].shape[-1]
            # da_t for a chunk of steps at a time: dW, db and the hoisted dU take one matmul per
            # chunk. The chunk's length depends on B and nb*H only (never on S), so member s
            # of an ensemble sums in the same order as a solo run.
            chunk = max(1, min(T, DA_CHUNK_BYTES // (B * nbH * dy.itemsize)))
            blocks = self.block_major[l]
            # da[:, t - start] is da_t; block-major, da[:, :, t - start], so that block k of a
            # chunk, da[:, k, :n], is (n*B, H) rows in a row
            da = np.empty((S, nbH // H, chunk, B, H) if blocks else (S, chunk, B, nbH), dtype=dy.dtype)
            embedding_grad = self.embedding is not None and self.embedding.trainable
            dx = (
                None
                if l == 0 and not (input_grad or embedding_grad)
                else np.empty((S, T, B, p["W"].shape[1]), dy.dtype)
            )
            dstate = tuple(np.zeros((S, B, H), dtype=dy.dtype) for _ in cell.state_names)
            if dhs is None:
                dstate = (dh_last,) + dstate[1:]
            tape = cache["tapes"][l] if trace is None else None  # tracing dh takes the per-step path
            # FusedCell promise 8: the chunk's backward_steps also sums [x_t, 1, h_{t-1}]^T da_t
            sums = None
            if tape is not None and blocks and sums_input_grads(cell):
                sums = np.zeros((S, nbH // H, cache["rows"][l].shape[-1], H), dy.dtype)
            end = T  # steps [start, end) fill da[:, : end - start]
            while end > 0:
                start = max(0, end - chunk)
                if tape is not None:  # the whole chunk in one call (FusedCell promise 6)
                    on_rows = {} if sums is None else {"rows": cache["rows"][l], "sums": sums}
                    dstate = cell.backward_steps(pb, dstate, tape, start, end, dhs, window, da, **on_rows)
                    ts = ()
                else:
                    ts = reversed(range(start, end))
                for t in ts:
                    if dhs is not None:
                        dstate = (dstate[0] + dhs[:, t],) + dstate[1:]
                    if trace is not None:
                        if trace["dh"][l] is None:
                            trace["dh"][l] = np.empty_like(top)
                        trace["dh"][l][:, t] = dstate[0]
                    out = da[:, :, t - start] if blocks else da[:, t - start]
                    dstate = backward_into(cell, pb, dstate, steps[t], g, out)
                    if window is not None and t % window == 0:
                        dstate = tuple(np.zeros_like(d) for d in dstate)
                # the chunk is complete: its dW, db, hoisted dU and dx in one matmul each
                n = end - start
                rows = cache["rows"][l][:, start:end]
                if blocks:
                    daf = da[:, :, :n].reshape(S, -1, n * B, H)  # a view: (n, B, H) is contiguous
                    if sums is None:
                        self._input_side_grads_blocks(grads, l, hoisted(cell, H), rows, daf)
                else:
                    daf = da[:, :n].reshape(S, n * B, nbH)
                    self._input_side_grads(grads, l, hoisted(cell, H), rows, daf)
                if dx is not None:  # dx of layer l
                    if blocks:  # dx = sum_k da_k W_k^T
                        dxk = np.matmul(daf, blocks_of(p["W"], H).transpose(0, 1, 3, 2))
                        dx[:, start:end] = dxk.sum(axis=1).reshape(S, n, B, -1)
                    else:
                        dx[:, start:end] = np.matmul(daf, p["W"].transpose(0, 2, 1)).reshape(S, n, B, -1)
                end = start
            if sums is not None:
                self._add_input_side_blocks(grads, l, hoisted(cell, H), sums)
            if dx is None:
                return grads, None
            dhs = dx
        if self.embedding is not None and self.embedding.trainable:
            emb_grads = {k[4:]: g for k, g in grads.items() if k.startswith("emb.")}
            self.embedding.backward(self.embedding_params(params), cache["tokens"], dhs, emb_grads)
        return grads, dhs

    @staticmethod
    def _input_side_grads(grads: dict, l: int, hoisted_cols: dict, rows: np.ndarray, daf: np.ndarray):
        """Add dW = sum_t x_t^T da_t, db = sum_t da_t and every hoisted dU = sum_t h_{t-1}^T da_t[cols]
        over the steps of `rows` as ONE matmul, [x_t, 1, h_{t-1}]^T da_t: da (T*B rows) is read once.
        Without hoisted matrices the h_{t-1} columns are left out."""
        S, T, B, _ = rows.shape
        D = grads[f"l{l}.W"].shape[1]
        X = rows if hoisted_cols else rows[..., : D + 1]
        G = np.matmul(X.reshape(S, T * B, -1).transpose(0, 2, 1), daf)  # (S, D+1(+H), nb*H)
        grads[f"l{l}.W"] += G[:, :D]  # += : one call per chunk of steps
        grads[f"l{l}.b"] += G[:, D]
        for name, cols in hoisted_cols.items():
            grads[f"l{l}.{name}"] += G[:, D + 1 :, cols]

    @staticmethod
    def _input_side_grads_blocks(grads: dict, l: int, hoisted_cols: dict, rows: np.ndarray, daf: np.ndarray):
        """_input_side_grads for a block-major layer: daf is (S, nb, T*B, H) and the one matmul
        gives G[:, k] = [x_t, 1, h_{t-1}]^T da_t[:, k], the gradient's column block k."""
        S, T, B, _ = rows.shape
        D = grads[f"l{l}.W"].shape[1]
        X = rows if hoisted_cols else rows[..., : D + 1]
        G = np.matmul(X.reshape(S, 1, T * B, -1).transpose(0, 1, 3, 2), daf)  # (S, nb, D+1(+H), H)
        RecurrentNet._add_input_side_blocks(grads, l, hoisted_cols, G)

    @staticmethod
    def _add_input_side_blocks(grads: dict, l: int, hoisted_cols: dict, G: np.ndarray):
        """Add G (S, nb, D+1(+H), H), block k = [x_t, 1, h_{t-1}]^T da_t[:, k] summed over steps,
        into dW, db and every hoisted dU."""
        S, nb, _, H = G.shape
        D = grads[f"l{l}.W"].shape[1]
        dW, db = blocks_of(grads[f"l{l}.W"], H), grads[f"l{l}.b"].reshape(S, -1, H)  # views
        dW += G[:, :, :D]  # += : once per chunk of steps, or once per layer (promise 8)
        db += G[:, :, D]
        for name, cols in hoisted_cols.items():
            first, last, _ = cols.indices(nb * H)
            dM = blocks_of(grads[f"l{l}.{name}"], H)
            dM += G[:, first // H : last // H, D + 1 :]

    def activations(self, cache: dict):
        """(layer, name, activation, pre, out) for each activation of each layer, with the
        time steps stacked: arrays (S, T*B, H)."""
        out = []
        for l, (cell, steps) in enumerate(zip(self.cells, cache["steps"])):
            per_step = [cell.activation_values(c) for c in steps]
            for k, (name, act, _, _) in enumerate(per_step[0]):
                pre = np.concatenate([s[k][2] for s in per_step], axis=1)
                post = np.concatenate([s[k][3] for s in per_step], axis=1)
                out.append((l, name, act, pre, post))
        return out

    def gate_values(self, cache: dict):
        """(layer, gate name, values) with the time steps stacked: arrays (S, T*B, H)."""
        out = []
        for l, (cell, steps) in enumerate(zip(self.cells, cache["steps"])):
            per_step = [cell.gate_values(c) for c in steps]
            if not isinstance(per_step[0], dict):
                raise PluginError(
                    f"{type(cell).__name__}.gate_values(cache) must return a dict {{gate name: (S, B, H) array}}, "
                    f"got {type(per_step[0]).__name__} (docs/plugins.md, 'What probes read')"
                )
            for gate in per_step[0]:
                out.append((l, gate, np.concatenate([g[gate] for g in per_step], axis=1)))
        return out

    def state_jacobian(self, params: dict, cache: dict, layer: int, t: int, b: int) -> np.ndarray:
        """J = d s_t / d s_{t-1} of layer `layer` at step t for example b: (S, n, n) with
        n = len(state_names) * H and s the concatenated state. Row r of J is what backward_step
        returns for dstate = e_r; all n rows run at once along the batch axis, on a cache that
        repeats example b n times (the cache layout rule in cell.py)."""
        cell, H = self.cells[layer], self.spec.hidden
        p_back = backward_params(cell, self.layer(params, layer), H)
        return state_jacobian(cell, p_back, cache["steps"][layer][t], b, H)


def _repeat_example(cache, b: int, reps: int):
    """One example's cache, repeated `reps` times along the batch axis (axis 1)."""
    if isinstance(cache, np.ndarray):
        return np.repeat(cache[:, b : b + 1], reps, axis=1)
    if isinstance(cache, tuple) and hasattr(cache, "_fields"):  # a NamedTuple
        return type(cache)(*(_repeat_example(c, b, reps) for c in cache))
    if isinstance(cache, (tuple, list)):
        return type(cache)(_repeat_example(c, b, reps) for c in cache)
    return cache


def state_jacobian(cell, p_back: dict, step_cache, b: int, hidden: int) -> np.ndarray:
    """See RecurrentNet.state_jacobian; `p_back` is what backward_step receives."""
    k = len(cell.state_names)
    n = k * hidden
    some = next(iter(p_back.values()))
    S = some.shape[0]
    eye = np.eye(n, dtype=some.dtype)
    dstate = tuple(
        np.broadcast_to(eye[None, :, j * hidden : (j + 1) * hidden], (S, n, hidden)).copy() for j in range(k)
    )
    sink = {name: np.zeros_like(v) for name, v in p_back.items()}  # parameter grads, unused
    da = np.empty(step_shape(cell, S, n, hidden), dtype=some.dtype)
    dprev = backward_into(cell, p_back, dstate, _repeat_example(step_cache, b, n), sink, da)
    return np.concatenate(dprev, axis=-1)
