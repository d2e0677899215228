"""Contract checks for plugins: the same checks `ablab check-plugin` runs and a plugin's own
tests can call (`from ablab.plugin import check_cell`). Each returns one Outcome per check,
"ok" or "skipped" (an optional path the plugin does not implement), and raises ContractError
naming what is wrong and where. No check passes without having tested something: a probe
that records nothing anywhere fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ablab.core.engine.gradcheck import (
    check_activation as _grad_activation,
)
from ablab.core.engine.gradcheck import (
    check_cell as _grad_cell,
)
from ablab.core.engine.gradcheck import (
    check_model,
)
from ablab.core.errors import AblabError, ConfigError


class ContractError(AblabError, AssertionError):
    """A plugin breaks the ablab plugin contract."""


class Skip(Exception):
    """Raised inside a check whose optional path the plugin does not implement."""


@dataclass(frozen=True)
class Outcome:
    """One check's result: status "ok" or "skipped" (with the reason)."""

    name: str
    status: str = "ok"
    reason: str = ""

    def __str__(self) -> str:
        return self.name if self.status == "ok" else f"{self.name} (skipped: {self.reason})"


def _registry(registry):
    if registry is not None:
        return registry
    from ablab.core.plugin_system.registry import default_registry

    return default_registry()


def _run(checks: list[tuple[str, Callable[[], None]]], what: str) -> list[Outcome]:
    outcomes = []
    for name, fn in checks:
        try:
            fn()
        except Skip as why:
            outcomes.append(Outcome(name, "skipped", str(why)))
            continue
        except AssertionError as exc:  # ContractError and GradcheckError are AssertionErrors
            raise ContractError(f"{what}: {name}: {exc}") from None
        except Exception as exc:
            raise ContractError(f"{what}: {name} raised {exc.__class__.__name__}: {exc}") from exc
        outcomes.append(Outcome(name))
    return outcomes


def _expect_same_gradients(got: dict, want: dict, message: str) -> None:
    """Two paths' gradients agree (float64); message names the first parameter that does not."""
    for k in got:
        _expect(np.allclose(got[k], want[k], rtol=1e-10, atol=1e-12), message.format(k))


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise ContractError(message)


def check_cell(name: str, options: dict | None = None, registry=None) -> list[Outcome]:
    """Structure, step and backward_step shapes (S, B, H), dtypes, determinism per seed,
    ensemble-member independence (initialisation included), constrain(), state reset, the
    optional speed paths (FusedCell), probe values, the float64 finite-difference gradient
    check (which names the wrong output: a parameter, da, dh_prev, dc_prev ...) and every
    built-in probe run on the cell, for one cell with given options."""
    from ablab.core.engine.cell import RecurrentParam, constrains
    from ablab.core.engine.fused_cell import backward_params, block_major, hoisted, step_shape
    from ablab.core.engine.model import RecurrentNet, RecurrentSpec

    registry = _registry(registry)
    options = options or {}
    S, T, B, H, D = 2, 5, 3, 4, 3
    cell = registry.get("cell", name)(registry, **options)
    net = RecurrentNet(RecurrentSpec(n_in=D, n_out=2, hidden=H, cell=name, cell_options=options), registry)
    x = np.random.default_rng(0).normal(size=(S, T, B, D)).astype(np.float32)
    # a_t and da_t: (S, B, n_blocks*H), or (S, n_blocks, B, H) for a block-major FusedCell
    a_shape = step_shape(cell, S, B, H)
    a_layout = "(S, n_blocks, B, H)" if block_major(cell) else "(S, B, n_blocks*H)"

    def structure():
        _expect(
            isinstance(cell.n_blocks, int) and cell.n_blocks >= 1,
            f"n_blocks must be a whole number >= 1, got {cell.n_blocks!r}",
        )
        _expect(
            isinstance(cell.state_names, tuple)
            and cell.state_names
            and all(isinstance(s, str) for s in cell.state_names),
            f"state_names must be a non-empty tuple of names with h first, got {cell.state_names!r}",
        )
        params = cell.recurrent_params(H)
        _expect(
            all(isinstance(p, RecurrentParam) for p in params.values()),
            f"recurrent_params() must map names to RecurrentParam('matrix' | 'vector'), got {params!r}",
        )
        bias = np.asarray(cell.bias_init(H))
        _expect(
            bias.shape == (cell.n_blocks * H,),
            f"bias_init({H}) must have shape ({cell.n_blocks * H},), got {bias.shape}",
        )
        for key, _cols in hoisted(cell, H).items():
            _expect(
                key in params and params[key].kind == "matrix",
                f"hoisted() names {key!r}, which is not a recurrent matrix",
            )

    def step_shapes():
        # called directly, before the model: a wrong shape is named here, not by numpy's broadcast
        params = net.init([0, 1], np.float32)
        p = net.layer(params, 0)
        expected = f"expected (S, B, H) = {(S, B, H)}"
        state = tuple(np.zeros((S, B, H), np.float32) for _ in cell.state_names)
        a = np.random.default_rng(2).normal(size=a_shape).astype(np.float32)
        try:
            new_state, cache = cell.step(p, a, state)
        except ValueError as exc:  # numpy's broadcast message names no parameter: say what step() was given
            given = ", ".join(f"{k} {v.shape[1:]}" for k, v in p.items())
            raise ContractError(
                f"step() raised ValueError: {exc}; it was given a_t {a_layout} = {a.shape} (n_blocks = "
                f"{cell.n_blocks}) and, per member, {given}: a matrix of several gate blocks is declared "
                "RecurrentParam('matrix', blocks) (shape (H, blocks * H))"
            ) from exc
        _expect(
            isinstance(new_state, tuple) and len(new_state) == len(cell.state_names),
            f"step() must return a tuple of {len(cell.state_names)} states for state_names {cell.state_names}, "
            f"got {type(new_state).__name__} of {len(new_state)}",
        )
        for s_name, s in zip(cell.state_names, new_state):
            _expect(np.shape(s) == (S, B, H), f"step() state {s_name!r} has shape {np.shape(s)}, {expected}")
            _expect(
                s.dtype == np.float32, f"step() turned float32 state {s_name!r} into {s.dtype}; keep the input dtype"
            )
        dstate = tuple(np.ones((S, B, H), np.float32) for _ in cell.state_names)
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        p_back = backward_params(cell, p, H)
        if cell.fused:  # writes da_t into the buffer it is given
            da, dprev = cell.backward_step(p_back, dstate, cache, grads, np.empty(a.shape, np.float32))
        else:
            da, dprev = cell.backward_step(p_back, dstate, cache, grads)
        _expect(
            np.shape(da) == a.shape,
            f"backward_step() returned da_t of shape {np.shape(da)}, expected {a_layout} = {a.shape}",
        )
        _expect(
            isinstance(dprev, tuple) and len(dprev) == len(cell.state_names),
            f"backward_step() must return one state gradient per state {cell.state_names}",
        )
        for s_name, d in zip(cell.state_names, dprev):
            _expect(np.shape(d) == (S, B, H), f"backward_step() d{s_name}_prev has shape {np.shape(d)}, {expected}")
        for k, g in grads.items():
            _expect(g.shape == p[k].shape, f"backward_step() changed the shape of grads[{k!r}] to {g.shape}")

    def shapes_and_dtypes():
        params = net.init([0, 1], np.float32)
        y, cache = net.forward(params, x)
        _expect(
            y.shape == (S, B, 2) and y.dtype == np.float32,
            f"model output should be float32 {(S, B, 2)}, got {y.dtype} {y.shape}",
        )
        grads, dx = net.backward(params, np.ones_like(y), cache)
        _expect(dx.shape == x.shape, f"input gradient has shape {dx.shape}, expected {x.shape}")
        for k, g in grads.items():
            _expect(
                g.shape == params[k].shape, f"gradient of {k!r} has shape {g.shape}, parameter has {params[k].shape}"
            )
            _expect(np.all(np.isfinite(g)), f"gradient of {k!r} is not finite")

    def determinism():
        a, b = net.init([7]), net.init([7])
        for k in a:
            _expect(np.array_equal(a[k], b[k]), f"two initialisations with seed 7 differ in {k!r}")
        _expect(
            np.array_equal(net.forward(a, x[:1])[0], net.forward(b, x[:1])[0]),
            "the same parameters and input gave different outputs",
        )

    def member_independence():
        ens = net.init([3, 5])
        solo = net.init([5])
        for k in ens:
            _expect(
                np.array_equal(ens[k][1], solo[k][0]),
                f"parameter {k!r} of member 1 (seed 5) differs from a solo initialisation with seed 5: "
                "an init must draw only from the rng it is given",
            )
        y_ens, cache_e = net.forward(ens, x)
        y_solo, cache_s = net.forward(solo, x[1:])
        _expect(
            np.array_equal(y_ens[1], y_solo[0]),
            "ensemble member 1 (seed 5) differs from a solo run with seed 5: members must not interact",
        )
        g_ens, _ = net.backward(ens, np.ones_like(y_ens), cache_e)
        g_solo, _ = net.backward(solo, np.ones_like(y_solo), cache_s)
        for k in g_ens:
            _expect(
                np.allclose(g_ens[k][1], g_solo[k][0], rtol=1e-5, atol=1e-6),
                f"gradient of {k!r} for member 1 depends on member 0",
            )

    def constrain():
        if not constrains(cell):
            raise Skip("the cell has no constrain()")
        rng = np.random.default_rng(4)
        ens = {k: (v + rng.normal(0, 3.0, v.shape)).astype(np.float32) for k, v in net.init([3, 5]).items()}
        solo = {k: v[1:].copy() for k, v in ens.items()}
        shapes = {k: (v.shape, v.dtype) for k, v in ens.items()}
        net.constrain(ens)
        net.constrain(solo)
        for k in ens:
            _expect((ens[k].shape, ens[k].dtype) == shapes[k], f"constrain() changed the shape or dtype of {k!r}")
            _expect(
                np.array_equal(ens[k][1], solo[k][0]),
                f"constrain() of {k!r} for member 1 depends on member 0: constrain each member on its own",
            )

    def state_reset():
        params = net.init([0, 1])
        first = net.forward(params, x)[0]
        second = net.forward(params, x)[0]
        _expect(
            np.array_equal(first, second), "a second forward pass gave other outputs: state leaked between sequences"
        )

    def probe_values():
        params = net.init([0, 1])
        _, cache = net.forward(params, x)
        for _layer, act_name, act, pre, post in net.activations(cache):
            _expect(
                pre.shape == post.shape,
                f"activation_values() {act_name!r}: pre {pre.shape} and output {post.shape} differ in shape",
            )
            _expect(
                np.array_equal(act(pre), post),
                f"activation_values() {act_name!r}: f(pre) is not the output; "
                "probes would read derivatives at the wrong points",
            )

    def fused_step():
        if net.fused[0] is None:
            raise Skip("the cell has no step_z (FusedCell with fused_matrix)")
        params, x64 = net.init([0, 1], np.float64), x.astype(np.float64)
        y_fused, cache_f = net.forward(params, x64)
        plain = RecurrentNet(net.spec, registry)
        plain.fused = [None] * len(plain.cells)  # the step() path
        y_plain, cache_p = plain.forward(params, x64)
        _expect(
            np.allclose(y_fused, y_plain, rtol=1e-12, atol=1e-12),
            "step_z(p, z, ...) disagrees with step(p, a, ...) on the same input",
        )
        g_fused, _ = net.backward(params, np.ones_like(y_fused), cache_f)
        g_plain, _ = plain.backward(params, np.ones_like(y_plain), cache_p)
        _expect_same_gradients(g_fused, g_plain, "with step_z the gradient of {!r} differs from the step() path")

    def chunk_backward():
        if not cell.fused or cell.new_tape(S, T, B, H, np.float64) is None:
            raise Skip("no tape (FusedCell.new_tape): the backward runs step by step")
        params, x64 = net.init([0, 1], np.float64), x.astype(np.float64)
        y, cache = net.forward(params, x64)
        g_chunk, dx_chunk = net.backward(params, np.ones_like(y), cache)
        g_step, dx_step = net.backward(params, np.ones_like(y), cache, trace={})  # tracing dh: step by step
        _expect_same_gradients(g_chunk, g_step, "backward_steps gives another gradient of {!r} than step by step")
        _expect(np.allclose(dx_chunk, dx_step, rtol=1e-10, atol=1e-12), "backward_steps gives another dx")

    def whole_forward():
        if not cell.fused or cell.new_tape(S, T, B, H, np.float64) is None:
            raise Skip("no tape (FusedCell.new_tape): the forward runs step by step")
        params, x64 = net.init([0, 1], np.float64), x.astype(np.float64)
        y_step, cache_step = net.forward(params, x64)
        y_whole, cache_whole = net.forward(params, x64, train=True)  # forward_steps where offered
        _expect(
            np.allclose(y_whole, y_step, rtol=1e-12, atol=1e-12),
            "forward_steps (training's whole-layer forward) disagrees with step_z step by step",
        )
        g_whole, _ = net.backward(params, np.ones_like(y_whole), cache_whole)
        g_step, _ = net.backward(params, np.ones_like(y_step), cache_step)
        _expect_same_gradients(g_whole, g_step, "after forward_steps the gradient of {!r} differs from step by step")

    def da_in_place():
        if not cell.fused:
            raise Skip("a plain Cell: da is not written in place")
        params = net.init([0, 1], np.float64)
        p = net.layer(params, 0)
        rng = np.random.default_rng(1)
        state = tuple(rng.normal(size=(S, B, H)) for _ in cell.state_names)
        _, cache = cell.step(p, rng.normal(size=a_shape), state)
        pb = backward_params(cell, p, H)
        dstate = tuple(rng.normal(size=(S, B, H)) for _ in cell.state_names)
        contiguous = np.full(a_shape, np.nan)
        _, prev = cell.backward_step(pb, dstate, cache, {k: np.zeros_like(v) for k, v in p.items()}, contiguous)
        # a strided slice of a two-step buffer, like ablab's: steps on axis 1, or 2 when block-major
        step_axis = 2 if block_major(cell) else 1
        buffer = np.full(a_shape[:step_axis] + (2,) + a_shape[step_axis:], np.nan)
        into = {k: np.zeros_like(v) for k, v in p.items()}
        other, out = np.moveaxis(buffer, step_axis, 0)  # views: step 0's slice, step 1's
        returned, prev_out = cell.backward_step(pb, dstate, cache, into, out)
        _expect(
            np.shares_memory(returned, buffer) and not np.isnan(out).any(),
            "backward_step(..., out) must write da_t into out and return it",
        )
        _expect(
            np.array_equal(out, contiguous) and all(np.array_equal(a, b) for a, b in zip(prev, prev_out)),
            "backward_step(..., out) gave another result in a strided slice of ablab's buffer than in a fresh array",
        )
        _expect(np.isnan(other).all(), "backward_step(..., out) wrote outside out")

    def gradients():
        _grad_cell(registry, name, options)
        check_model(
            RecurrentNet(RecurrentSpec(n_in=D, n_out=2, hidden=3, cell=name, cell_options=options, layers=2), registry)
        )

    def builtin_probes():
        _builtin_probes_on_cell(registry, name, options)

    # da in place first: a cell that ignores `out` would otherwise fail later checks obscurely
    return _run(
        [
            ("structure", structure),
            ("step and backward_step shapes", step_shapes),
            ("backward_step writes da in place", da_in_place),
            ("shapes and dtypes", shapes_and_dtypes),
            ("determinism per seed", determinism),
            ("ensemble-member independence", member_independence),
            ("constrain", constrain),
            ("state reset", state_reset),
            # the chunk backward first: a wrong one would otherwise show as a step_z/step disagreement
            ("backward_steps agrees with backward_step", chunk_backward),
            ("step_z agrees with step", fused_step),
            ("forward_steps agrees with step_z", whole_forward),
            ("probe values", probe_values),
            ("float64 gradient check", gradients),
            ("built-in probes run on the cell", builtin_probes),
        ],
        f"cell {name!r}",
    )


def _builtin_probes_on_cell(registry, cell: str, options: dict) -> None:
    """Train a small net with the cell on the recall task with every built-in probe that
    applies: the probes read the cell's caches, gates and activations, so what they assume
    (see docs/plugins.md, "What probes read") is part of the cell contract."""
    from ablab.core.engine.model import RecurrentNet, RecurrentSpec
    from ablab.core.engine.train import TrainSpec, train
    from ablab.core.plugin_system.registry import BUILTIN_PROVIDER

    task = registry.get("task", "recall")(max_lag=3)
    # hidden != probe batch: a cache with its axes swapped cannot pass by coincidence
    spec = RecurrentSpec(n_in=task.n_in, n_out=task.n_out, hidden=5, cell=cell, cell_options=options)
    net = RecurrentNet(spec, registry)
    for entry in registry.of_kind("probe"):
        if entry.provider != BUILTIN_PROVIDER or not entry.obj.applies(net, task):
            continue
        try:
            train(net, task, TrainSpec(steps=2, batch_size=3, probe_batch=3), [0, 1], probes=[entry.obj])
        except Exception as exc:
            raise ContractError(
                f"the built-in probe {entry.name!r} raised {exc.__class__.__name__}: {exc} "
                "(see docs/plugins.md, 'What probes read': gate_values returns a dict of (S, B, H) arrays, "
                "activation_values a list of (name, activation, pre, post), a cache is a tuple of (S, B, ...) arrays)"
            ) from exc


def check_activation(name: str, options: dict | None = None, registry=None) -> list[Outcome]:
    """Shapes and dtypes, deriv_from_output honesty and the float64 derivative check."""
    registry = _registry(registry)
    act = registry.get("activation", name).bind(options)
    x = np.random.default_rng(0).normal(0, 2, (4, 5)).astype(np.float32)

    def shapes():
        y = act(x)
        _expect(y.shape == x.shape, f"f(x) has shape {y.shape} for input {x.shape}")
        _expect(y.dtype == np.float32, f"f(x) turned float32 into {y.dtype}")
        d = act.deriv(x, y)
        _expect(np.shape(d) == x.shape, f"f'(x) has shape {np.shape(d)} for input {x.shape}")
        if act.deriv_from_output:  # cells will call output_deriv(y) and drop the pre-activations
            try:
                d_out = act.output_deriv(y)
            except TypeError as exc:
                raise AssertionError(f"deriv_from_output is set but deriv(None, y) fails: {exc}") from exc
            _expect(np.array_equal(d_out, d), "deriv_from_output is set but deriv(None, y) differs from deriv(x, y)")

    def gradients():
        _grad_activation(registry, name, options)

    return _run([("shapes and dtypes", shapes), ("float64 derivative check", gradients)], f"activation {name!r}")


def check_initializer(name: str, options: dict | None = None, registry=None) -> list[Outcome]:
    """Shapes (fan_in, fan_out), finite values and draws only from the rng given."""
    registry = _registry(registry)
    init = registry.get("initializer", name)
    opts = init.check_options(options or {})

    def shapes():
        for fan_in, fan_out in ((3, 5), (6, 6), (8, 2)):
            w = np.asarray(init.fn(np.random.default_rng(0), fan_in, fan_out, **opts))
            _expect(w.shape == (fan_in, fan_out), f"fn(rng, {fan_in}, {fan_out}) returned shape {w.shape}")
            _expect(np.all(np.isfinite(w)), "weights are not finite")

    def determinism():
        a = init.fn(np.random.default_rng(1), 4, 4, **opts)
        b = init.fn(np.random.default_rng(1), 4, 4, **opts)
        _expect(np.array_equal(a, b), "the same rng seed gave different weights: draw only from the rng you are given")

    return _run([("shapes", shapes), ("determinism per seed", determinism)], f"initializer {name!r}")


def check_task(name: str, options: dict | None = None, registry=None) -> list[Outcome]:
    """Batch shapes for the task's readout, determinism per seed and a finite baseline."""
    registry = _registry(registry)
    task = registry.get("task", name)(**(options or {}))

    def shapes():
        batch = task.batch(np.random.default_rng(0), 5)
        if task.readout == "vector":
            _expect(
                batch.x.shape == (5, task.n_in), f"x has shape {batch.x.shape}, expected (B, n_in) = (5, {task.n_in})"
            )
            return
        _expect(task.readout in ("last", "all"), f"readout must be 'last', 'all' or 'vector', got {task.readout!r}")
        T = batch.x.shape[0]
        if task.vocab is None:
            _expect(batch.x.shape == (T, 5, task.n_in), f"x has shape {batch.x.shape}, expected (T, B, n_in)")
        else:
            _expect(
                batch.x.shape == (T, 5) and np.issubdtype(batch.x.dtype, np.integer),
                "token tasks give x as (T, B) integers",
            )
            _expect(batch.x.min() >= 0 and batch.x.max() < task.vocab, f"tokens must lie in [0, vocab = {task.vocab})")
        if task.readout == "all":
            _expect(batch.mask is None or batch.mask.shape == (T, 5), "mask must be (T, B)")

    def determinism():
        a, b = task.batch(np.random.default_rng(3), 4), task.batch(np.random.default_rng(3), 4)
        _expect(np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y), "the same rng seed gave different batches")

    def baseline():
        value = task.baseline()
        _expect(
            isinstance(value, float) and np.isfinite(value) and value >= 0,
            f"baseline() must be a finite float >= 0, got {value!r}",
        )

    return _run([("shapes", shapes), ("determinism per seed", determinism), ("baseline", baseline)], f"task {name!r}")


def _tasks(registry) -> dict:
    """Every registered task that trains a network, with its default options."""
    tasks = {}
    for task_name in registry.names("task"):
        cls = registry.get("task", task_name)
        # corpus tasks train word2vec models; never built here (wordnet needs its data installed)
        if not (hasattr(cls, "corpus") and hasattr(cls, "measure")):
            tasks[task_name] = cls()
    return tasks


def _probe_nets(registry, probe):
    """(cell or model label, task name, net, task) where the probe applies: every registered
    cell on the first task it applies to there, and every registered task with the first
    cell it applies to there (or the feedforward net, for "vector" tasks). Small sizes,
    default options."""
    from ablab.core.engine.feedforward import FeedForwardNet, FeedForwardSpec
    from ablab.core.engine.model import RecurrentNet, RecurrentSpec

    tasks = _tasks(registry)
    cells = registry.names("cell")
    sequence = [t for t, task in tasks.items() if task.readout != "vector"]

    def recurrent(cell: str, task):
        token = {"vocab": task.vocab, "embedding": "onehot"} if task.vocab is not None else {}
        spec = RecurrentSpec(n_in=task.n_in, n_out=task.n_out, hidden=4, cell=cell, readout=task.readout, **token)
        return RecurrentNet(spec, registry)

    done: set[tuple[str, str]] = set()

    def first_applying(pairs):
        for cell, task_name in pairs:
            net = recurrent(cell, tasks[task_name])
            if probe.applies(net, tasks[task_name]):
                return cell, task_name, net
        return None

    for cell in cells:
        found = first_applying((cell, t) for t in sequence)
        if found:
            done.add(found[:2])
            yield found[0], found[1], found[2], tasks[found[1]]
    for task_name, task in tasks.items():
        if task.readout == "vector":
            net = FeedForwardNet(FeedForwardSpec(n_in=task.n_in, n_out=task.n_out, depth=2, width=4), registry)
            if probe.applies(net, task):
                yield "feedforward", task_name, net, task
        elif not any(t == task_name for _, t in done):
            found = first_applying((c, task_name) for c in cells)
            if found:
                yield found[0], task_name, found[2], task


def check_probe(name: str, registry=None) -> list[Outcome]:
    """Runs the probe while training every registered cell (and the feedforward net) on
    tasks it applies to, and every registered task: fails when it raises anywhere, records
    nothing anywhere, or gives malformed or irreproducible records."""
    from ablab.core.engine.train import TrainSpec, train

    registry = _registry(registry)
    probe = registry.get("probe", name)
    spec = TrainSpec(steps=2, batch_size=3, probe_batch=4)
    keys = {"step", "probe", "name", "layer", "index", "seed", "value"}
    tried: list[str] = []
    recorded: dict[str, list[dict]] = {}
    first: list = []

    def everywhere():
        for model, task_name, net, task in _probe_nets(registry, probe):
            where = f"{model} on task {task_name!r}"
            tried.append(where)
            try:
                records = train(net, task, spec, [0, 1], probes=[probe]).probe_records
            except Exception as exc:
                raise ContractError(f"measure() raised {exc.__class__.__name__} with {where}: {exc}") from exc
            if records:
                recorded[where] = records
                if not first:
                    first.append((net, task, records))
        _expect(tried, "applies() is False for every registered cell, model and task: the probe never runs")
        _expect(
            recorded,
            f"the probe recorded nothing with any of the {len(tried)} models it applies to ({', '.join(tried)})",
        )

    def records_shape():
        for where, records in recorded.items():
            for r in records:
                _expect(
                    set(r) == keys, f"with {where}: a record must have exactly the keys {sorted(keys)}, got {sorted(r)}"
                )
                _expect(r["probe"] == name, f"with {where}: records must carry probe = {name!r}, got {r['probe']!r}")
                _expect(
                    isinstance(r["value"], float),
                    f"with {where}: values must be floats, got {type(r['value']).__name__}",
                )

    def determinism():
        net, task, records = first[0]
        again = train(net, task, spec, [0, 1], probes=[probe]).probe_records
        _expect(again == records, "two identical runs gave different probe records")

    return _run(
        [
            ("runs on every cell and task it applies to", everywhere),
            ("records", records_shape),
            ("determinism", determinism),
        ],
        f"probe {name!r}",
    )


def check_embedding(name: str, options: dict | None = None, registry=None) -> list[Outcome]:
    """Parameters drawn only from the member's rng, forward shapes (S, T, B, dim), member
    independence and, for a trainable embedding, the float64 gradient check through a model."""
    from ablab.core.engine.model import RecurrentNet, RecurrentSpec

    registry = _registry(registry)
    options = options or {}
    S, T, B, V = 2, 4, 3, 7
    emb = registry.get("embedding", name)(registry, V, **options)
    token_task = next((t for t in _tasks(registry).values() if t.vocab is not None and t.readout != "vector"), None)
    if hasattr(emb, "attach") and token_task is not None:  # embeddings pretrained on a task's stream
        V = token_task.vocab
        emb = registry.get("embedding", name)(registry, V, **options)
        emb.attach(token_task)
    tokens = np.random.default_rng(0).integers(0, V, (S, T, B))

    def member(seed):
        return emb.init_member(np.random.default_rng([seed, 4]))

    def stacked(seeds):
        members = [member(s) for s in seeds]
        return {k: np.stack([m[k] for m in members]) for k in members[0]}

    def parameters():
        a, b = member(3), member(3)
        _expect(isinstance(a, dict), f"init_member(rng) must return a dict of arrays, got {type(a).__name__}")
        for k, v in a.items():
            _expect(isinstance(v, np.ndarray) and v.dtype == np.float64, f"parameter {k!r} must be a float64 array")
            _expect(np.array_equal(v, b[k]), f"two draws of {k!r} from the same seed differ: draw only from rng")

    def shapes():
        x = np.asarray(emb.forward(stacked([0, 1]), tokens))
        _expect(
            x.shape == (S, T, B, emb.dim),
            f"forward(p, tokens (S, T, B)) returned {x.shape}, expected (S, T, B, dim) = {(S, T, B, emb.dim)}",
        )
        _expect(np.issubdtype(x.dtype, np.floating) and np.all(np.isfinite(x)), "forward() must give finite floats")

    def member_independence():
        ens, solo = stacked([3, 5]), stacked([5])
        x_ens = np.asarray(emb.forward(ens, tokens))
        x_solo = np.asarray(emb.forward(solo, tokens[1:]))
        _expect(np.array_equal(x_ens[1], x_solo[0]), "member 1 (seed 5) differs from a solo seed 5: members interact")

    def gradients():
        if not emb.trainable:
            raise Skip("the embedding is not trainable")
        spec = RecurrentSpec(n_in=V, n_out=2, hidden=3, cell="rnn", vocab=V, embedding={"name": name, **options})
        net = RecurrentNet(spec, registry)
        if hasattr(net.embedding, "attach") and token_task is not None:
            net.embedding.attach(token_task)
        check_model(net)

    return _run(
        [
            ("parameters per seed", parameters),
            ("shapes", shapes),
            ("ensemble-member independence", member_independence),
            ("float64 gradient check", gradients),
        ],
        f"embedding {name!r}",
    )


CHECKS: dict[str, Callable[..., list[Outcome]]] = {
    "cell": check_cell,
    "activation": check_activation,
    "embedding": check_embedding,
    "initializer": check_initializer,
    "task": check_task,
    "probe": check_probe,
}
TAKES_OPTIONS = ("cell", "activation", "embedding", "initializer", "task")  # a probe is an instance


def check_plugin(kind: str, name: str, registry=None, options: dict | None = None) -> list[Outcome]:
    """The contract check of one registered plugin: check_plugin("cell", "indrnn")."""
    if kind not in CHECKS:
        raise ContractError(f"no contract check for kind {kind!r}; kinds: {', '.join(CHECKS)}")
    if options and kind not in TAKES_OPTIONS:
        raise ContractError(f"a {kind} check takes no options; options apply to {', '.join(TAKES_OPTIONS)}")
    if kind not in TAKES_OPTIONS:
        return CHECKS[kind](name, registry=registry)
    try:
        return CHECKS[kind](name, options, registry=registry)
    except ConfigError as exc:  # an option the plugin refused: name it as the user wrote it, not its class
        from ablab.core.plugin_system.registry import as_written

        raise ConfigError(as_written(str(exc), kind, name, _registry(registry).get(kind, name))) from None
