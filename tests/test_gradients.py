"""Every registered cell (with every option and ablation), activation, loss and a stacked
model is checked against central differences in float64."""

import numpy as np
import pytest

from ablab.core.engine.gradcheck import GradcheckError, check_activation, check_cell, check_loss, check_model
from ablab.core.engine.model import RecurrentNet, RecurrentSpec
from ablab.core.errors import ConfigError
from ablab.core.plugin_system.registry import Entry, build_registry

REGISTRY = build_registry(strict=False)

LSTM_FLAGS = [
    "peepholes",
    "no_input_gate",
    "no_forget_gate",
    "no_output_gate",
    "no_input_activation",
    "no_output_activation",
    "coupled",
]


def cell_cases():
    cases = []
    for name in REGISTRY.names("cell"):
        cls = REGISTRY.get("cell", name)
        cases.append((name, {}))
        for key, default in cls.defaults.items():
            if isinstance(default, bool):
                cases.append((name, {key: not default}))
    cases += [
        ("lstm", {"peepholes": True, "coupled": True}),
        ("lstm", {"peepholes": True, "no_input_gate": True, "no_output_gate": True}),
        ("lstm", {"peepholes": True, "no_forget_gate": True, "no_output_activation": True}),
        ("lstm", {"no_output_gate": True, "no_output_activation": True}),  # dc starts from dh itself
        ("lstm", {"no_input_gate": True, "no_forget_gate": True, "no_output_gate": True}),  # no gates at all
        ("lstm", {"gate_activation": "tanh"}),
        ("lstm", {"gate_activation": "relu", "cell_activation": "elu"}),
        ("lstm", {"gate_activation": "hard_sigmoid", "peepholes": True}),
        ("lstm", {"forget_bias": 3.0}),
        ("gru", {"gate_activation": "tanh", "candidate_activation": "relu"}),
        ("gru", {"reset_after": True, "gate_activation": "swish"}),
    ]
    cases += [("rnn", {"activation": a}) for a in REGISTRY.names("activation")]
    cases += [("rnn", {"activation": {"name": "leaky_relu", "alpha": 0.2}})]
    return [(n, o) for n, o in cases if constructible(n, o)]


def constructible(name, options):
    """Some flag flips contradict a preset (lstm-cifg without an input gate); those must raise."""
    try:
        REGISTRY.get("cell", name)(REGISTRY, **options)
    except ConfigError:
        return False
    return True


def test_contradictory_lstm_flags_raise():
    with pytest.raises(ConfigError, match="coupled"):
        REGISTRY.get("cell", "lstm-cifg")(REGISTRY, no_input_gate=True)


@pytest.mark.parametrize("name,options", cell_cases(), ids=lambda v: str(v))
def test_cell_gradients(name, options):
    errors = check_cell(REGISTRY, name, options)
    assert max(errors.values()) < 1e-6


def test_every_lstm_flag_is_covered():
    """Every on/off option of the LSTM, read from the cell itself, is gradient-checked flipped."""
    lstm_flags = {k for k, v in REGISTRY.get("cell", "lstm").defaults.items() if isinstance(v, bool)}
    assert lstm_flags == set(LSTM_FLAGS)
    flipped = {k for name, opts in cell_cases() if name == "lstm" for k in opts}
    assert lstm_flags <= flipped


@pytest.mark.parametrize("name", REGISTRY.names("activation"))
def test_activation_derivatives(name):
    assert check_activation(REGISTRY, name)["x"] < 1e-6


@pytest.mark.parametrize("name,options", [("leaky_relu", {"alpha": 0.3}), ("elu", {"alpha": 0.5})])
def test_activation_options_derivatives(name, options):
    assert check_activation(REGISTRY, name, options)["x"] < 1e-6


@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("every_step", [False, True])
def test_loss_gradients(loss, every_step):
    assert check_loss(loss, every_step=every_step)["y"] < 1e-6


@pytest.mark.parametrize("cell", ["rnn", "lstm", "lstm-peephole", "gru", "mgu"])
@pytest.mark.parametrize("readout,loss", [("last", "mse"), ("all", "xent")])
def test_stacked_model_gradients(cell, readout, loss):
    spec = RecurrentSpec(n_in=3, n_out=4, hidden=5, cell=cell, layers=3, readout=readout)
    errors = check_model(RecurrentNet(spec, REGISTRY), loss=loss)
    assert set(errors) >= {"l0.W", "l2.U" if cell not in ("gru", "mgu") else "l2.W", "out.V", "x"}
    assert max(errors.values()) < 1e-6


def test_gradcheck_catches_a_wrong_backward():
    """The checker itself must fail on a cell whose backward step is subtly wrong."""

    rnn = REGISTRY.get("cell", "rnn")

    class Broken(rnn):
        def backward_step(self, p, dstate, cache, grads, out):
            da, (dh_prev,) = super().backward_step(p, dstate, cache, grads, out)
            return da, (dh_prev * 1.001,)  # 0.1% off through time

    REGISTRY.entries[("cell", "broken")] = type(REGISTRY.entry("cell", "rnn"))("cell", "broken", Broken, "test", "0")
    try:
        # named as the output that is wrong, not as the parameter it leaks into over time
        with pytest.raises(GradcheckError, match=r"\(one step\): gradient of .dh_prev. is wrong: relative error"):
            check_cell(REGISTRY, "broken")
    finally:
        del REGISTRY.entries[("cell", "broken")]


def test_truncated_bptt_cuts_gradient_at_window_boundaries():
    spec = RecurrentSpec(n_in=2, n_out=1, hidden=4, cell="lstm")
    net = RecurrentNet(spec, REGISTRY)
    rng = np.random.default_rng(0)
    params = net.init([0], np.float64)
    x = rng.normal(size=(1, 12, 3, 2))
    y, cache = net.forward(params, x)
    dy = rng.normal(size=y.shape)
    full, dx_full = net.backward(params, dy, cache)
    same, dx_same = net.backward(params, dy, cache, window=12)
    cut, dx_cut = net.backward(params, dy, cache, window=4)
    np.testing.assert_array_equal(dx_full, dx_same)
    # the readout sees step 11 only; no gradient crosses the boundary at t = 8
    assert np.all(dx_cut[:, :8] == 0) and np.any(dx_full[:, :8] != 0)
    np.testing.assert_allclose(dx_cut[:, 8:], dx_full[:, 8:], rtol=1e-12)


@pytest.mark.parametrize("embedding", ["onehot", "random", {"name": "learned", "dim": 5}])
def test_models_with_embeddings_are_exact(embedding):
    spec = RecurrentSpec(n_in=7, n_out=3, hidden=4, cell="gru", layers=2, readout="all", vocab=7, embedding=embedding)
    net = RecurrentNet(spec, REGISTRY)
    errors = check_model(net, loss="xent")
    assert max(errors.values()) < 1e-6
    assert ("emb.E" in errors) == isinstance(embedding, dict)  # only the learned table is trained


def test_learned_embedding_gradient_is_sparse_and_frozen_ones_stay_zero():
    rng = np.random.default_rng(0)
    tokens = np.array([[[0, 2], [2, 2]]])  # (S=1, T=2, B=2): token 1 never appears
    for name, trained in (("learned", True), ("random", False)):
        spec = RecurrentSpec(
            n_in=3, n_out=2, hidden=3, cell="rnn", readout="last", vocab=3, embedding={"name": name, "dim": 4}
        )
        net = RecurrentNet(spec, REGISTRY)
        params = net.init([0], np.float64)
        y, cache = net.forward(params, tokens)
        grads, _ = net.backward(params, rng.normal(size=y.shape), cache)
        g = grads["emb.E"][0]
        assert np.all(g[1] == 0)  # unseen token: no gradient
        assert np.any(g[0] != 0) == trained and np.any(g[2] != 0) == trained


def test_backward_without_input_grad_gives_the_same_parameter_gradients():
    net = RecurrentNet(RecurrentSpec(n_in=3, n_out=2, hidden=4, cell="lstm", layers=2, readout="all"), REGISTRY)
    params = net.init([0, 1], dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(2, 5, 3, 3))
    y, cache = net.forward(params, x)
    dy = np.random.default_rng(2).normal(size=y.shape)
    full, dx = net.backward(params, dy, cache)
    lean, none = net.backward(params, dy, cache, input_grad=False)
    assert dx.shape == x.shape and none is None
    assert full.keys() == lean.keys() and all(np.array_equal(full[k], lean[k]) for k in full)


@pytest.mark.parametrize(
    "cell, layers, readout", [("lstm", 2, "all"), ("lstm-peephole", 1, "last"), ("rnn", 2, "last")]
)
def test_fused_step_matches_the_step_path(cell, layers, readout):
    """z_t = [x_t, 1, h_{t-1}] [W; b; U] in one matmul (step_z) gives what a_t + h_{t-1} U
    (step) gives, forward and backward."""
    net = RecurrentNet(RecurrentSpec(n_in=3, n_out=2, hidden=4, cell=cell, layers=layers, readout=readout), REGISTRY)
    assert all(name == "U" for name in net.fused)
    plain = RecurrentNet(net.spec, REGISTRY)
    plain.fused = [None] * layers
    params = net.init([0, 1], dtype=np.float64)
    x = np.random.default_rng(3).normal(size=(2, 6, 3, 3))
    y, cache = net.forward(params, x)
    y_plain, cache_plain = plain.forward(params, x)
    np.testing.assert_allclose(y, y_plain, rtol=1e-13, atol=1e-13)
    dy = np.random.default_rng(4).normal(size=y.shape)
    grads, dx = net.backward(params, dy, cache)
    grads_plain, dx_plain = plain.backward(params, dy, cache_plain)
    np.testing.assert_allclose(dx, dx_plain, rtol=1e-12, atol=1e-13)
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_plain[k], rtol=1e-12, atol=1e-13, err_msg=k)


def test_speed_paths_are_declared_not_discovered():
    """The model reads FusedCell's declarations: fused_matrix picks the step_z path; a
    FusedCell without fused_matrix runs its own step()."""
    rnn = REGISTRY.get("cell", "rnn")
    calls = []

    class OwnStep(rnn):
        fused_matrix = None

        def hoisted(self, hidden):
            return {"U": slice(None)}

        def step(self, p, a, state):
            calls.append(1)
            (h_prev,) = state
            return self.step_z(p, a + np.matmul(h_prev, p["U"]), state, None)

    registry = build_registry(entry_points=False)
    registry.entries[("cell", "own-step")] = Entry("cell", "own-step", OwnStep, "test", "0")
    spec = dict(n_in=2, n_out=1, hidden=4, layers=2)
    assert RecurrentNet(RecurrentSpec(cell="rnn", **spec), registry).fused == ["U", "U"]
    assert RecurrentNet(RecurrentSpec(cell="gru", **spec), registry).fused == [None, None]  # U_ru: 2 of 3 blocks
    net = RecurrentNet(RecurrentSpec(cell="own-step", **spec), registry)
    assert net.fused == [None, None]
    net.forward(net.init([0]), np.zeros((1, 3, 2, 2), np.float32))
    assert len(calls) == 2 * 3  # every step of both layers went through OwnStep.step


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_exact_when_the_backward_works_in_chunks_of_steps(cell, monkeypatch):
    """backward sums dW, db and dU one chunk of steps at a time (model.DA_CHUNK_BYTES); at test
    sizes one chunk holds every step unless the limit is lowered, as here to 2 steps."""
    import ablab.core.engine.model as model

    spec = RecurrentSpec(n_in=3, n_out=2, hidden=4, cell=cell, layers=2, readout="all")
    net = RecurrentNet(spec, REGISTRY)
    monkeypatch.setattr(model, "DA_CHUNK_BYTES", 2 * 3 * net.cells[0].n_blocks * 4 * 8)  # B=3, float64
    errors = check_model(net, loss="xent", T=5, B=3)
    assert set(errors) >= {"l0.W", "l1.b", "x"} and max(errors.values()) < 1e-6
