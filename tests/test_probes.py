"""Each probe on a hand-built case with a known answer."""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ablab.core.engine.clipping import ClipSpec
from ablab.core.engine.feedforward import FeedForwardNet, FeedForwardSpec
from ablab.core.engine.fused_cell import step_shape
from ablab.core.engine.model import RecurrentNet, RecurrentSpec, state_jacobian
from ablab.core.engine.optim import OptimizerSpec
from ablab.core.engine.probe import ACROSS_ACTIVATIONS, ProbeContext
from ablab.core.engine.task import Batch
from ablab.core.engine.train import TrainSpec, train
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)


def probe(name):
    return REGISTRY.get("probe", name)


def frame(records):
    return pd.DataFrame(records)


def context(net, params, task, x, y, mask=None, seeds=(0,)):
    return ProbeContext(0, net, params, task, list(seeds), Batch(x, y, mask), x, dtype=np.float64)


def teacher():
    return REGISTRY.get("task", "teacher")(n_in=8)


def test_every_builtin_probe_is_covered():
    """Every registered probe is measured by some test function of this module."""
    tree = ast.parse(Path(__file__).read_text())
    measured = {
        call.args[0].value
        for fn in tree.body
        if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_")
        for call in ast.walk(fn)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "probe"
        and isinstance(call.args[0], ast.Constant)
    }
    assert set(REGISTRY.names("probe")) <= measured, sorted(set(REGISTRY.names("probe")) - measured)


def test_relu_layer_with_large_negative_bias_is_all_dead():
    net = FeedForwardNet(FeedForwardSpec(n_in=8, n_out=1, depth=3, width=16, activation="relu"), REGISTRY)
    params = net.init([0, 1], np.float64)
    params["l1.b"][0] = -100.0  # member 0: layer 1 dead; member 1 untouched
    x = np.random.default_rng(0).normal(size=(2, 256, 8))
    df = frame(probe("dead_fraction").measure(context(net, params, teacher(), x, np.zeros((2, 256, 1)), seeds=(0, 1))))
    dead = df[df["name"] != ACROSS_ACTIVATIONS].set_index(["seed", "layer"])["value"]
    assert dead[(0, 1)] == 1.0 and dead[(0, 2)] == 1.0  # nothing reaches layer 2 either
    assert dead[(1, 1)] < 0.2 and dead[(0, 0)] < 0.2
    assert dead[(0, -1)] == 1.0 and dead[(1, -1)] < 0.2  # input_dead: member 0 is constant on every input
    leaky = FeedForwardNet(FeedForwardSpec(n_in=8, n_out=1, depth=3, width=16, activation="leaky_relu"), REGISTRY)
    df = frame(
        probe("dead_fraction").measure(context(leaky, params, teacher(), x, np.zeros((2, 256, 1)), seeds=(0, 1)))
    )
    assert df["value"].max() == 0.0  # leaky ReLU never has a zero derivative


def test_born_dead_share_matches_lu_et_al_formula():
    # Lu et al. (2019): with zero biases and symmetric weights, one input finds some layer of an
    # L-deep, N-wide ReLU net all zero with probability 1 - (1 - 2^-N)^L. One input per net, so
    # each net is one Bernoulli draw; 2000 nets give a standard error below 0.01.
    N, L, nets = 2, 6, 2000
    net = FeedForwardNet(FeedForwardSpec(n_in=4, n_out=1, depth=L, width=N, activation="relu"), REGISTRY)
    seeds = list(range(nets))
    params = net.init(seeds, np.float64)
    x = np.random.default_rng(0).normal(size=(nets, 1, 4))
    df = frame(probe("dead_fraction").measure(context(net, params, teacher(), x, np.zeros((nets, 1, 1)), seeds=seeds)))
    share = df[df["name"] == "input_dead"]["value"].mean()
    theory = 1 - (1 - 2.0**-N) ** L
    assert abs(share - theory) < 4 * np.sqrt(theory * (1 - theory) / nets), (share, theory)


def test_relu_mean_shift_is_one_over_sqrt_two_pi_for_unit_normal_input():
    net = FeedForwardNet(FeedForwardSpec(n_in=32, n_out=1, depth=1, width=32, activation="relu"), REGISTRY)
    params = net.init([0], np.float64)
    params["l0.W"][0] = np.eye(32)  # pre-activations are the N(0, 1) inputs themselves
    x = np.random.default_rng(0).normal(size=(1, 20000, 32))
    df = frame(probe("mean_shift").measure(context(net, params, teacher(), x, np.zeros((1, 20000, 1)))))
    layer_mean = df[(df["name"] == "h") & (df["layer"] == 0) & (df["index"] == -1)]["value"].item()
    assert layer_mean == pytest.approx(1 / np.sqrt(2 * np.pi), abs=0.005)
    assert (df["index"] >= 0).sum() == 32


def test_saturation_of_tanh_with_huge_preactivations():
    net = FeedForwardNet(FeedForwardSpec(n_in=8, n_out=1, depth=1, width=8, activation="tanh"), REGISTRY)
    params = net.init([0], np.float64)
    x = np.random.default_rng(0).normal(size=(1, 500, 8))
    small = frame(probe("saturation").measure(context(net, params, teacher(), x * 1e-3, np.zeros((1, 500, 1)))))
    params["l0.W"] *= 1e4
    big = frame(probe("saturation").measure(context(net, params, teacher(), x, np.zeros((1, 500, 1)))))
    assert set(small["name"]) == {"h", ACROSS_ACTIVATIONS}  # one activation: the mean over them is it
    assert (small["value"] == 0.0).all() and (big["value"] > 0.99).all()


def linear_rnn(rho, H=6, T=12, B=3):
    """h_t = h_{t-1} (rho Q) + x_t W with Q orthogonal, identity activation, readout at T."""
    net = RecurrentNet(
        RecurrentSpec(n_in=2, n_out=1, hidden=H, cell="rnn", cell_options={"activation": "identity"}), REGISTRY
    )
    params = net.init([0], np.float64)
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(H, H)))
    params["l0.U"][0] = rho * q
    x = np.random.default_rng(4).normal(size=(1, T, B, 2))
    adding = REGISTRY.get("task", "adding")(length=T)
    return net, params, adding, x


@pytest.mark.parametrize("rho", [0.7, 1.0, 1.3])
def test_grad_through_time_of_scaled_orthogonal_linear_rnn(rho):
    net, params, task, x = linear_rnn(rho)
    df = frame(probe("grad_through_time").measure(context(net, params, task, x, np.ones((1, 3, 1)))))
    norms = df[df["name"] == "norm"].sort_values("index")["value"].to_numpy()
    np.testing.assert_allclose(norms[1:] / norms[:-1], rho, rtol=1e-10)  # ||dL/dh_k|| = rho^(T-k) ||dL/dh_T||
    assert df[df["name"] == "eta"]["value"].item() == pytest.approx(rho, rel=1e-10)


def test_jacobian_of_scaled_orthogonal_linear_rnn():
    net, params, task, x = linear_rnn(0.9)
    df = frame(probe("jacobian").measure(context(net, params, task, x, np.ones((1, 3, 1)))))
    assert len(df[df["name"] == "U.radius"]) == 2  # block 0, and the max over blocks
    df = df[df["index"] == -1].set_index("name")["value"]
    assert df["jacobian_sigma_max"] == pytest.approx(0.9, rel=1e-10)
    assert df["U.radius"] == pytest.approx(0.9, rel=1e-10)
    assert df["U.sigma_max"] == pytest.approx(0.9, rel=1e-10)


def test_jacobian_of_lstm_matches_finite_differences():
    """The probe's J = d(h,c)_t / d(h,c)_{t-1} against a numerical Jacobian of cell.step."""
    net = RecurrentNet(RecurrentSpec(n_in=2, n_out=1, hidden=3, cell="lstm"), REGISTRY)
    params = net.init([0], np.float64)
    cell, p = net.cells[0], net.layer(params, 0)
    rng = np.random.default_rng(0)
    a = rng.normal(size=step_shape(cell, 1, 1, 3))  # (1, 4, 1, 3): the LSTM is block-major
    s0 = np.concatenate([rng.normal(size=3), rng.normal(size=3)])

    def f(s):
        h, c = cell.step(p, a, (s[None, None, :3], s[None, None, 3:]))[0]
        return np.concatenate([h.ravel(), c.ravel()])

    numeric = np.stack([(f(s0 + 1e-6 * e) - f(s0 - 1e-6 * e)) / 2e-6 for e in np.eye(6)], axis=1)
    _, cache = cell.step(p, a, (s0[None, None, :3], s0[None, None, 3:]))
    analytic = state_jacobian(cell, cell.with_transposes(p, 3), cache, 0, 3)[0]
    np.testing.assert_allclose(analytic, numeric, atol=1e-8)


@pytest.mark.parametrize("options", [{}, {"peepholes": True}])
def test_jacobian_picks_one_example_of_a_block_major_cache(options):
    """The LSTM keeps its gate blocks as (S, B, n_gates, H) views in the cache: the Jacobian of
    example 1 in a batch of 3 equals the Jacobian of that example run alone."""
    cell = REGISTRY.get("cell", "lstm")(REGISTRY, **options)
    net = RecurrentNet(RecurrentSpec(n_in=2, n_out=1, hidden=3, cell="lstm", cell_options=options), REGISTRY)
    p = cell.with_transposes(net.layer(net.init([0], np.float64), 0), 3)
    rng = np.random.default_rng(1)
    a = rng.normal(size=step_shape(cell, 1, 3, 3))
    state = (rng.normal(size=(1, 3, 3)), rng.normal(size=(1, 3, 3)))
    _, cache = cell.step(p, a, state)
    _, alone = cell.step(p, a[:, :, 1:2].copy(), tuple(s[:, 1:2].copy() for s in state))
    np.testing.assert_array_equal(state_jacobian(cell, p, cache, 1, 3), state_jacobian(cell, p, alone, 0, 3))


def test_gates_probe_sees_an_open_forget_gate():
    net = RecurrentNet(
        RecurrentSpec(n_in=2, n_out=1, hidden=4, cell="lstm", cell_options={"forget_bias": 30.0}), REGISTRY
    )
    params = net.init([0], np.float64)
    x = np.random.default_rng(0).normal(size=(1, 5, 8, 2))
    df = frame(
        probe("gates").measure(context(net, params, REGISTRY.get("task", "adding")(length=5), x, np.ones((1, 8, 1))))
    )
    values = df.set_index("name")["value"]
    assert values["forget_mean"] == pytest.approx(1.0, abs=1e-9) and values["forget_saturated"] == 1.0
    assert 0.2 < values["input_mean"] < 0.8
    gru = RecurrentNet(RecurrentSpec(n_in=2, n_out=1, hidden=4, cell="gru"), REGISTRY)
    df = frame(
        probe("gates").measure(
            context(gru, gru.init([0], np.float64), REGISTRY.get("task", "adding")(length=5), x, np.ones((1, 8, 1)))
        )
    )
    assert {"reset_mean", "update_mean", "reset_saturated", "update_saturated"} == set(df["name"])


def test_clipping_probe_counts_clipped_steps_per_member():
    task = REGISTRY.get("task", "adding")(length=8)
    net = RecurrentNet(RecurrentSpec(n_in=2, n_out=1, hidden=4, cell="rnn"), REGISTRY)
    spec = TrainSpec(
        steps=20, batch_size=4, clip=ClipSpec("norm", 1e-6), probe_every=10, optimizer=OptimizerSpec(lr=1e-3)
    )
    result = train(net, task, spec, seeds=[0, 1], probes=[probe("clipping")])
    df = frame(result.probe_records)
    rates = df[df["name"] == "clip_rate"]
    assert sorted(rates["step"].unique()) == [10, 20]  # nothing to report at initialisation
    assert (rates["value"] == 1.0).all()
    unclipped = train(
        net, task, TrainSpec(steps=20, batch_size=4, probe_every=10), seeds=[0], probes=[probe("clipping")]
    )
    norms = frame(unclipped.probe_records).set_index(["step", "name"])["value"]
    assert norms[(20, "clip_rate")] == 0.0 and norms[(20, "preclip_norm_max")] >= norms[(20, "preclip_norm_mean")] > 0


def test_memory_span_of_an_input_ignoring_model_is_zero():
    task = REGISTRY.get("task", "recall")(max_lag=4)
    net = RecurrentNet(RecurrentSpec(n_in=task.n_in, n_out=task.n_out, hidden=4, cell="lstm"), REGISTRY)
    params = net.init([0], np.float64)
    params["out.V"][:] = 0.0  # constant logits: always the same guess
    ctx = ProbeContext(0, net, params, task, [0], None, None, dtype=np.float64)
    df = frame(probe("memory_span").measure(ctx))
    acc = df[df["name"] == "accuracy"]
    assert list(acc["index"]) == [1, 2, 3, 4] and acc["value"].max() < 0.3
    assert df[df["name"] == "span"]["value"].item() == 0


def test_memory_span_of_a_trained_lstm_covers_its_training_lags():
    task = REGISTRY.get("task", "recall")(max_lag=3, symbols=4)
    net = RecurrentNet(RecurrentSpec(n_in=task.n_in, n_out=task.n_out, hidden=24, cell="lstm"), REGISTRY)
    spec = TrainSpec(steps=250, batch_size=32, optimizer=OptimizerSpec(lr=0.02))
    result = train(net, task, spec, seeds=[0], probes=[probe("memory_span")])
    df = frame(result.probe_records)
    spans = df[df["name"] == "span"].set_index("step")["value"]
    assert spans[0] == 0 and spans[250] == 3


def test_layer_stats_reports_every_layer():
    net = FeedForwardNet(FeedForwardSpec(n_in=8, n_out=1, depth=4, width=8, activation="tanh"), REGISTRY)
    params = net.init([0], np.float64)
    x = np.random.default_rng(0).normal(size=(1, 64, 8))
    y = np.random.default_rng(1).normal(size=(1, 64, 1))
    df = frame(probe("layer_stats").measure(context(net, params, teacher(), x, y)))
    assert sorted(df["layer"].unique()) == [0, 1, 2, 3]
    assert (df[df["name"] == "act_std"]["value"] > 0).all() and (df[df["name"] == "grad_norm"]["value"] > 0).all()


def test_linearity_separates_identity_from_relu_networks():
    x = np.random.default_rng(0).normal(size=(1, 64, 8))
    errors = {}
    for act in ("identity", "relu"):
        net = FeedForwardNet(FeedForwardSpec(n_in=8, n_out=2, depth=30, width=8, activation=act), REGISTRY)
        params = net.init([0], np.float64)
        params = {k: v + (0.1 if k.endswith(".b") else 0.0) for k, v in params.items()}  # biases make it affine
        df = frame(probe("linearity").measure(context(net, params, teacher(), x, None)))
        errors[act] = df[df["name"] == "error"]["value"].item()
    assert errors["identity"] < 1e-10 and errors["relu"] > 0.05


def test_lsq_ratio_is_one_at_the_least_squares_map_and_above_elsewhere():
    # A one-layer identity net set to the least-squares affine fit of an independent sample sits
    # at the optimum (ratio 1 up to sampling noise); the same net with zero weights predicts
    # 0 and pays the whole variance of y, far above the optimum.
    task = teacher()
    sample = task.batch(np.random.default_rng(7), 20000)
    coef, *_ = np.linalg.lstsq(np.c_[sample.x, np.ones(20000)], sample.y, rcond=None)
    net = FeedForwardNet(FeedForwardSpec(n_in=8, n_out=1, depth=1, width=1, activation="identity"), REGISTRY)
    params = net.init([0, 1], np.float64)
    params["l0.W"][0], params["l0.b"][0] = coef[:8], coef[8]
    params["out.V"][0], params["out.c"][0] = 1.0, 0.0
    params["l0.W"][1], params["l0.b"][1], params["out.V"][1], params["out.c"][1] = 0.0, 0.0, 0.0, 0.0
    x = np.zeros((2, 4, 8))
    df = frame(probe("linearity").measure(context(net, params, task, x, None, seeds=(0, 1))))
    ratio = df[df["name"] == "lsq_ratio"].set_index("seed")["value"]
    assert 0.99 < ratio[0] < 1.01 and ratio[1] > 2.0, ratio.to_dict()


@pytest.mark.parametrize(
    "cell, options",
    [
        ("lstm", {}),
        ("lstm-peephole", {}),
        ("lstm-cifg", {}),
        ("lstm", {"gate_activation": "hard_sigmoid"}),
        ("lstm", {"no_input_activation": True, "no_output_gate": True}),
        ("gru", {}),
        ("gru", {"reset_after": True}),
        ("rnn", {"activation": "relu"}),
    ],
)
def test_probes_see_the_preactivations_each_output_came_from(cell, options):
    """Cells may drop pre-activations from the training cache and recompute them for the
    probes; the recomputed values must be the very ones the outputs were computed from."""
    net = RecurrentNet(RecurrentSpec(n_in=3, n_out=1, hidden=5, cell=cell, cell_options=options, layers=2), REGISTRY)
    params = net.init([0, 1])
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype(np.float32)
    _, cache = net.forward(params, x)
    seen = set()
    for layer, name, act, pre, post in net.activations(cache):
        assert pre.shape == post.shape == (2, 6 * 4, 5), (layer, name)
        assert np.array_equal(act(pre), post), f"layer {layer} {name}: f(pre) != post"
        seen.add(name)
    assert seen, "the cell reported no activations"


@pytest.mark.parametrize("name", ["dead_fraction", "mean_shift", "saturation"])
def test_activity_probes_record_the_mean_over_activations_but_gates(name):
    """Every cell's activations on one chart: per layer, the mean of the non-gate activations'
    values (the LSTM's cell_input and cell_output; its gates left out)."""
    net = RecurrentNet(RecurrentSpec(n_in=2, n_out=1, hidden=4, cell="lstm", layers=2), REGISTRY)
    params = net.init([0, 1], np.float64)
    x = np.random.default_rng(0).normal(size=(2, 5, 8, 2)) * 3
    task = REGISTRY.get("task", "adding")(length=5)
    df = frame(probe(name).measure(context(net, params, task, x, np.zeros((2, 8, 1)), seeds=(0, 1))))
    df = df[df["index"] == -1]
    names = set(df["name"])
    assert {"cell_input", "cell_output", ACROSS_ACTIVATIONS} <= names and any("gate" in n for n in names)
    for _, group in df.groupby(["layer", "seed"]):
        values = group.set_index("name")["value"]
        assert values[ACROSS_ACTIVATIONS] == pytest.approx((values["cell_input"] + values["cell_output"]) / 2)
