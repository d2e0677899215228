"""Contract checks for plugins: the same checks `ablab check-plugin` runs and a plugin's own
tests can call (`from ablab.core.plugin_system.testing import check_cell`). Each returns the names of the
checks that passed and raises ContractError naming what is wrong and where."""

from __future__ import annotations

from collections.abc import Callable

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
from ablab.core.errors import AblabError


class ContractError(AblabError, AssertionError):
    """A plugin breaks the ablab plugin contract."""


def _registry(registry):
    if registry is not None:
        return registry
    from ablab.core.plugin_system.registry import default_registry

    return default_registry()


def _run(checks: list[tuple[str, Callable[[], None]]], what: str) -> list[str]:
    passed = []
    for name, fn in checks:
        try:
            fn()
        except AssertionError as exc:  # ContractError and GradcheckError are AssertionErrors
            raise ContractError(f"{what}: {name}: {exc}") from None
        except Exception as exc:
            raise ContractError(f"{what}: {name} raised {exc.__class__.__name__}: {exc}") from exc
        passed.append(name)
    return passed


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise ContractError(message)


def check_cell(name: str, options: dict | None = None, registry=None) -> list[str]:
    """Shapes and dtypes, determinism per seed, ensemble-member independence, state reset
    and the float64 finite-difference gradient check, for one cell with given options."""
    from ablab.core.engine.cell import RecurrentParam
    from ablab.core.engine.fused_cell import backward_params, hoisted
    from ablab.core.engine.model import RecurrentNet, RecurrentSpec

    registry = _registry(registry)
    options = options or {}
    S, T, B, H, D = 2, 5, 3, 4, 3
    cell = registry.get("cell", name)(registry, **options)
    net = RecurrentNet(RecurrentSpec(n_in=D, n_out=2, hidden=H, cell=name, cell_options=options), registry)
    x = np.random.default_rng(0).normal(size=(S, T, B, D)).astype(np.float32)

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
            all(isinstance(p, RecurrentParam) and p.kind in ("matrix", "vector") for p in params.values()),
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

    def shapes_and_dtypes():
        params = net.init([0, 1], np.float32)
        y, cache = net.forward(params, x)
        _expect(
            y.shape == (S, B, 2) and y.dtype == np.float32,
            f"model output should be float32 {(S, B, 2)}, got {y.dtype} {y.shape}",
        )
        state = tuple(np.zeros((S, B, H), np.float32) for _ in cell.state_names)
        a = np.zeros((S, B, cell.n_blocks * H), np.float32)
        new_state, _ = cell.step(net.layer(params, 0), a, state)
        _expect(
            len(new_state) == len(cell.state_names),
            f"step() returned {len(new_state)} states for state_names {cell.state_names}",
        )
        for s_name, s in zip(cell.state_names, new_state):
            _expect(
                s.shape == (S, B, H), f"step() state {s_name!r} has shape {s.shape}, expected (S, B, H) = {(S, B, H)}"
            )
            _expect(
                s.dtype == np.float32, f"step() turned float32 state {s_name!r} into {s.dtype}; keep the input dtype"
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
            return
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
        for k in g_fused:
            _expect(
                np.allclose(g_fused[k], g_plain[k], rtol=1e-10, atol=1e-12),
                f"with step_z the gradient of {k!r} differs from the step() path",
            )

    def da_in_place():
        if not cell.fused:
            return
        params = net.init([0, 1], np.float64)
        p = net.layer(params, 0)
        rng = np.random.default_rng(1)
        state = tuple(rng.normal(size=(S, B, H)) for _ in cell.state_names)
        _, cache = cell.step(p, rng.normal(size=(S, B, cell.n_blocks * H)), state)
        pb = backward_params(cell, p, H)
        dstate = tuple(rng.normal(size=(S, B, H)) for _ in cell.state_names)
        contiguous = np.full((S, B, cell.n_blocks * H), np.nan)
        _, prev = cell.backward_step(pb, dstate, cache, {k: np.zeros_like(v) for k, v in p.items()}, contiguous)
        buffer = np.full((S, 2, B, cell.n_blocks * H), np.nan)  # a strided slice, like ablab's
        into = {k: np.zeros_like(v) for k, v in p.items()}
        returned, prev_out = cell.backward_step(pb, dstate, cache, into, buffer[:, 1])
        _expect(
            np.shares_memory(returned, buffer) and not np.isnan(buffer[:, 1]).any(),
            "backward_step(..., out) must write da_t into out and return it",
        )
        _expect(
            np.array_equal(buffer[:, 1], contiguous) and all(np.array_equal(a, b) for a, b in zip(prev, prev_out)),
            "backward_step(..., out) gave another result in a strided slice of ablab's buffer than in a fresh array",
        )
        _expect(np.isnan(buffer[:, 0]).all(), "backward_step(..., out) wrote outside out")

    def gradients():
        _grad_cell(registry, name, options)
        check_model(
            RecurrentNet(RecurrentSpec(n_in=D, n_out=2, hidden=3, cell=name, cell_options=options, layers=2), registry)
        )

    # da in place first: a cell that ignores `out` would otherwise fail later checks obscurely
    return _run(
        [
            ("structure", structure),
            ("backward_step writes da in place", da_in_place),
            ("shapes and dtypes", shapes_and_dtypes),
            ("determinism per seed", determinism),
            ("ensemble-member independence", member_independence),
            ("state reset", state_reset),
            ("step_z agrees with step", fused_step),
            ("probe values", probe_values),
            ("float64 gradient check", gradients),
        ],
        f"cell {name!r}",
    )


def check_activation(name: str, registry=None) -> list[str]:
    registry = _registry(registry)
    act = registry.get("activation", name).bind()
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
        _grad_activation(registry, name)

    return _run([("shapes and dtypes", shapes), ("float64 derivative check", gradients)], f"activation {name!r}")


def check_initializer(name: str, registry=None) -> list[str]:
    registry = _registry(registry)
    init = registry.get("initializer", name)
    opts = init.check_options({})

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


def check_task(name: str, options: dict | None = None, registry=None) -> list[str]:
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


def check_probe(name: str, registry=None) -> list[str]:
    from ablab.core.engine.model import RecurrentNet, RecurrentSpec
    from ablab.core.engine.train import TrainSpec, train

    registry = _registry(registry)
    probe = registry.get("probe", name)
    task = registry.get("task", "recall")(max_lag=3)
    net = RecurrentNet(RecurrentSpec(n_in=task.n_in, n_out=task.n_out, hidden=6, cell="lstm"), registry)
    records: list[dict] = []

    def records_shape():
        result = train(net, task, TrainSpec(steps=4, batch_size=4, probe_batch=8), [0, 1], probes=[probe])
        records.extend(result.probe_records)
        keys = {"step", "probe", "name", "layer", "index", "seed", "value"}
        for r in records:
            _expect(set(r) == keys, f"a record must have exactly the keys {sorted(keys)}, got {sorted(r)}")
            _expect(r["probe"] == name, f"records must carry probe = {name!r}, got {r['probe']!r}")
            _expect(isinstance(r["value"], float), f"values must be floats, got {type(r['value']).__name__}")

    def determinism():
        again = train(net, task, TrainSpec(steps=4, batch_size=4, probe_batch=8), [0, 1], probes=[probe]).probe_records
        _expect(again == records, "two identical runs gave different probe records")

    return _run([("records", records_shape), ("determinism", determinism)], f"probe {name!r}")


CHECKS: dict[str, Callable[..., list[str]]] = {
    "cell": check_cell,
    "activation": check_activation,
    "initializer": check_initializer,
    "task": check_task,
    "probe": check_probe,
}


def check_plugin(kind: str, name: str, registry=None) -> list[str]:
    if kind not in CHECKS:
        raise ContractError(f"no contract check for kind {kind!r}; kinds: {', '.join(CHECKS)}")
    return CHECKS[kind](name, registry=registry)
