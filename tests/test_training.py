"""Ensembles, divergence, determinism, optimisers, clipping and bad configuration."""

import numpy as np
import pytest

from ablab.core.engine.clipping import ClipSpec, clip, global_norm
from ablab.core.engine.model import RecurrentNet, RecurrentSpec
from ablab.core.engine.optim import OptimizerSpec, init_state, learning_rate, update
from ablab.core.engine.train import TrainSpec, member_groups, train
from ablab.core.errors import ConfigError, UnknownPluginError
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)


def adding(length=10):
    return REGISTRY.get("task", "adding")(length=length)


def net(cell="lstm", hidden=8, **kw):
    return RecurrentNet(RecurrentSpec(n_in=2, n_out=1, hidden=hidden, cell=cell, **kw), REGISTRY)


SPEC = TrainSpec(
    steps=25, batch_size=8, optimizer=OptimizerSpec(name="adam", lr=0.02), clip=ClipSpec("norm", 0.5), log_every=1
)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_member_equals_solo_run(cell):
    ensemble = train(net(cell), adding(), SPEC, seeds=[3, 7, 11])
    solo = train(net(cell), adding(), SPEC, seeds=[7])
    for key in ensemble.params:
        np.testing.assert_array_equal(ensemble.params[key][1], solo.params[key][0])
    np.testing.assert_array_equal(ensemble.series("loss")[:, 1], solo.series("loss")[:, 0])
    np.testing.assert_array_equal(ensemble.series("grad_norm")[:, 1], solo.series("grad_norm")[:, 0])
    # members really differ: own initialisation and data
    assert not np.array_equal(ensemble.params["l0.W"][0], ensemble.params["l0.W"][1])


def test_members_have_their_own_clipping_decision():
    result = train(net("rnn"), adding(), SPEC, seeds=[0, 1, 2, 3])
    clipped = result.series("clipped")
    assert clipped.shape == (25, 4)
    norms = result.series("grad_norm")
    np.testing.assert_array_equal(clipped, (norms >= 0.5).astype(float))


def test_same_configuration_and_seed_give_identical_numbers():
    a = train(net("gru"), adding(), SPEC, seeds=[5, 6])
    b = train(net("gru"), adding(), SPEC, seeds=[5, 6])
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])


def test_diverging_member_is_frozen_and_others_continue():
    model = net("rnn", hidden=8, cell_options={"activation": "relu"})
    spec = TrainSpec(steps=10, batch_size=8, optimizer=OptimizerSpec(name="sgd", lr=0.01), log_every=1)
    params = model.init([0, 1, 2])
    params["l0.U"][1] *= 1e4  # member 1 explodes through a ReLU recurrence
    start = {k: v.copy() for k, v in params.items()}
    result = train(model, adding(length=30), spec, seeds=[0, 1, 2], params=params)
    assert result.diverged_at.tolist() == [-1, 0, -1]
    for key in start:  # frozen: member 1 never updated
        np.testing.assert_array_equal(result.params[key][1], start[key][1])
        assert np.all(np.isfinite(result.params[key]))
    assert np.all(np.isnan(result.series("loss")[1:, 1]))
    # the others equal runs that never had member 1
    for seed, index in ((0, 0), (2, 2)):
        solo_params = {k: v[index : index + 1].copy() for k, v in start.items()}
        solo = train(model, adding(length=30), spec, seeds=[seed], params=solo_params)
        for key in start:
            np.testing.assert_array_equal(result.params[key][index], solo.params[key][0])


def test_lstm_and_gru_learn_adding_but_loss_falls_below_baseline():
    task = adding(length=10)
    spec = TrainSpec(steps=150, batch_size=32, optimizer=OptimizerSpec(lr=0.02))
    for cell in ("lstm", "gru"):
        result = train(net(cell, hidden=16), task, spec, seeds=[0, 1])
        assert np.all(result.series("loss")[-3:].mean(axis=0) < 0.5 * task.baseline()), cell


@pytest.mark.parametrize(
    "name,extra", [("sgd", {}), ("momentum", {}), ("momentum", {"nesterov": True}), ("rmsprop", {}), ("adam", {})]
)
def test_optimisers_minimise_a_quadratic_per_member(name, extra):
    spec = OptimizerSpec(name=name, lr=0.05, **extra)
    target = np.array([[1.0, -2.0], [3.0, 0.5]])  # two members, two parameters
    params = {"w": np.zeros((2, 2))}
    state = init_state(spec, params)
    for _ in range(400):
        update(spec, params, {"w": params["w"] - target}, state, spec.lr)
    np.testing.assert_allclose(params["w"], target, atol=0.05)


def test_adam_first_step_is_lr_times_sign():
    spec = OptimizerSpec(name="adam", lr=0.1)
    params = {"w": np.zeros((1, 3))}
    update(spec, params, {"w": np.array([[2.0, -0.5, 1e-3]])}, init_state(spec, params), spec.lr)
    np.testing.assert_allclose(params["w"], [[-0.1, 0.1, -0.1]], rtol=1e-4)


def test_frozen_member_is_not_moved_by_momentum():
    spec = OptimizerSpec(name="momentum", lr=0.1)
    params = {"w": np.ones((2, 2))}
    state = init_state(spec, params)
    update(spec, params, {"w": np.ones((2, 2))}, state, 0.1)
    update(spec, params, {"w": np.array([[0.0, 0.0], [1.0, 1.0]])}, state, 0.1, active=np.array([False, True]))
    np.testing.assert_allclose(params["w"][0], 0.9)


@pytest.mark.parametrize("name", ["momentum", "rmsprop", "adam"])
def test_a_frozen_members_optimiser_state_stays_unchanged_and_the_others_match_solo_runs(name):
    spec = OptimizerSpec(name=name, lr=0.1)
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(2, 3)) for _ in range(3)]
    params = {"w": np.ones((2, 3))}
    state = init_state(spec, params)
    update(spec, params, {"w": grads[0].copy()}, state, 0.1)
    before = {slot: state[slot]["w"][0].copy() for slot in state if slot != "t"}
    for g in grads[1:]:  # member 0 diverged: frozen, with zero gradients as train() gives it
        g = g.copy()
        g[0] = 0.0
        update(spec, params, {"w": g}, state, 0.1, active=np.array([False, True]))
    for slot, rows in before.items():
        np.testing.assert_array_equal(state[slot]["w"][0], rows, err_msg=slot)
    solo = {"w": np.ones((1, 3))}
    solo_state = init_state(spec, solo)
    for g in grads:
        update(spec, solo, {"w": g[1:].copy()}, solo_state, 0.1)
    np.testing.assert_array_equal(params["w"][1], solo["w"][0])


def test_schedules():
    step = OptimizerSpec(lr=1.0, schedule="step", step_every=10, gamma=0.5)
    assert [learning_rate(step, s, 100) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cos = OptimizerSpec(lr=1.0, schedule="cosine", min_lr=0.1)
    assert learning_rate(cos, 0, 11) == pytest.approx(1.0) and learning_rate(cos, 10, 11) == pytest.approx(0.1)
    assert learning_rate(cos, 5, 11) == pytest.approx(0.55)


def test_global_norm_clipping_follows_pascanu_algorithm_1():
    grads = {"a": np.array([[3.0, 0.0], [0.3, 0.0]]), "b": np.array([[4.0], [0.4]])}
    norm, clipped = clip(ClipSpec("norm", 1.0), grads)
    np.testing.assert_allclose(norm, [5.0, 0.5])
    assert clipped.tolist() == [True, False]
    np.testing.assert_allclose(global_norm(grads), [1.0, 0.5])
    np.testing.assert_allclose(grads["a"][1], [0.3, 0.0])  # the small member is untouched


def test_value_clipping_is_elementwise():
    grads = {"a": np.array([[3.0, -0.2], [0.3, -0.1]])}
    norm, clipped = clip(ClipSpec("value", 0.5), grads)
    assert clipped.tolist() == [True, False]
    np.testing.assert_allclose(grads["a"], [[0.5, -0.2], [0.3, -0.1]])


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: RecurrentSpec(n_in=2, n_out=1, hidden=0), "model.hidden must be a whole number >= 1"),
        (lambda: RecurrentSpec(n_in=2, n_out=1, layers=0), "model.layers"),
        (lambda: RecurrentSpec(n_in=2, n_out=1, readout="first"), "model.readout must be one of 'last', 'all'"),
        (lambda: OptimizerSpec(lr=-0.1), "optimizer.lr must be a number > 0"),
        (lambda: OptimizerSpec(name="adagrad"), "optimizer.name must be one of 'sgd', 'momentum', 'rmsprop', 'adam'"),
        (lambda: ClipSpec("norm", 0.0), "clip.threshold must be a number > 0"),
        (lambda: ClipSpec("global"), "clip.kind must be one of"),
        (lambda: TrainSpec(steps=0), "train.steps"),
        (lambda: train(net(), adding(), SPEC, seeds=[]), "at least one seed"),
        (lambda: train(net(), adding(), SPEC, seeds=[1, 1]), "distinct"),
        (
            lambda: net(cell_options={"forget_bais": 1.0}),
            r"no option 'forget_bais' \(did you mean 'forget_bias'\?\); options: forget_bias",
        ),
        (lambda: net(cell_options={"peepholes": 1}), "must be true or false"),
        (lambda: net(cell="rnn", cell_options={"activation": "tanhh"}), "available activations: elu"),
        (
            lambda: net(recurrent_init={"name": "orthogonal", "gian": 1}),
            r"no option 'gian' \(did you mean 'gain'\?\); options: gain",
        ),
        (lambda: adding(length=1), "length must be >= 2"),
    ],
)
def test_bad_configuration_fails_before_training(make, message):
    with pytest.raises((ConfigError, UnknownPluginError), match=message):
        make()


def test_unknown_cell_lists_available_cells():
    with pytest.raises(UnknownPluginError, match="available cells: gru, lstm, lstm-cifg, lstm-peephole, rnn"):
        net(cell="lstn")


def test_spectral_radius_option_rescales_each_recurrent_block():
    from ablab.core.engine.initializer import spectral_radius

    model = net("lstm", hidden=6, recurrent_init={"name": "normal", "std": 0.3}, spectral_radius=1.3)
    U = model.init_member(0)["l0.U"]
    for k in range(4):
        assert spectral_radius(U[:, k * 6 : (k + 1) * 6]) == pytest.approx(1.3)


def test_a_finite_explosion_counts_as_diverged(monkeypatch):
    """Adam at lr = 1e9 holds the loss at 1e16..1e19, finite in float32 for ever (the run used to
    finish as done): the guard at EXPLODED x the task's baseline marks it diverged."""
    import ablab.core.engine.train as engine

    spec = TrainSpec(steps=6, batch_size=8, optimizer=OptimizerSpec(name="adam", lr=1e9), log_every=1)
    result = train(net("rnn"), adding(), spec, seeds=[0, 1])
    assert result.diverged_at.tolist() == [1, 1]
    monkeypatch.setattr(engine, "EXPLODED", float("inf"))  # without the guard: finite losses, never flagged
    unguarded = train(net("rnn"), adding(), spec, seeds=[0, 1])
    assert unguarded.diverged_at.tolist() == [-1, -1] and np.isfinite(unguarded.series("loss")).all()
    assert unguarded.series("loss")[1:].min() > 1e6 * engine.reference_loss(adding())
    calm = train(net("rnn"), adding(), SPEC, seeds=[0, 1])  # an ordinary run is not touched
    assert calm.diverged_at.tolist() == [-1, -1]


@pytest.mark.parametrize(
    "cell, option", [("rnn", "activation"), ("lstm", "cell_activation"), ("gru", "candidate_activation")]
)
def test_model_activation_sets_each_cells_own_option(cell, option):
    model = net(cell, activation="relu")
    assert model.cells[0].options[option] == "relu"
    with pytest.raises(ConfigError, match=f"model.activation and model.cell_options.{option} both set"):
        net(cell, activation="relu", cell_options={option: "tanh"})


def test_model_activation_on_a_cell_without_one_is_a_clear_error():
    from ablab.core.engine.cell import Cell, cell_options

    class Plain(Cell):
        defaults = {"width": 2}

    with pytest.raises(ConfigError, match="cell 'plain' has no activation to set.*options: width"):
        cell_options(Plain, "plain", {}, "relu")


def test_member_equals_solo_run_when_the_backward_works_in_chunks(monkeypatch):
    """The chunk length of the backward's da buffer depends on batch and width only, never on
    the ensemble size, so members still sum in a solo run's order (3 steps per chunk here)."""
    import ablab.core.engine.model as model

    monkeypatch.setattr(model, "DA_CHUNK_BYTES", 3 * 8 * 4 * 8 * 4)  # 3 steps of batch 8, 4 x 8 columns, float32
    ensemble = train(net("lstm"), adding(), SPEC, seeds=[3, 7, 11])
    solo = train(net("lstm"), adding(), SPEC, seeds=[7])
    for key in ensemble.params:
        np.testing.assert_array_equal(ensemble.params[key][1], solo.params[key][0])
    np.testing.assert_array_equal(ensemble.series("loss")[:, 1], solo.series("loss")[:, 0])


def test_member_groups_are_powers_of_two_covering_the_ensemble(monkeypatch):
    import ablab.core.engine.train as training

    params = {"w": np.zeros((5, 1000), np.float32)}  # 4000 bytes per member
    monkeypatch.setattr(training, "GROUP_BYTES", 3 * 4000)  # room for 3 members: groups of 2
    assert member_groups(params, 5) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    monkeypatch.setattr(training, "GROUP_BYTES", 100)  # less than one member: groups of 1
    assert member_groups(params, 5) == [slice(k, k + 1) for k in range(5)]
    monkeypatch.setattr(training, "GROUP_BYTES", 10**9)
    assert member_groups(params, 5) == [slice(0, 5)]


@pytest.mark.parametrize("cell, task", [("lstm", "adding"), ("gru", "reber")])  # reber: masked, every step, xent
def test_training_by_member_groups_changes_no_number(monkeypatch, cell, task):
    """Forward and backward run group by group (here groups of 2 of 3 members): every number
    equals one ensemble's, and member 1 still equals its solo run."""
    import ablab.core.engine.train as training

    task = REGISTRY.get("task", task)()

    def fresh():
        return RecurrentNet.from_config({"cell": cell, "hidden": 8}, task, REGISTRY)

    whole = train(fresh(), task, SPEC, seeds=[3, 7, 11])
    per_member = sum(v[0].nbytes for v in whole.params.values())
    monkeypatch.setattr(training, "GROUP_BYTES", 2 * per_member)
    assert len(member_groups(whole.params, 3)) == 2
    grouped = train(fresh(), task, SPEC, seeds=[3, 7, 11])
    solo = train(fresh(), task, SPEC, seeds=[7])
    for key in whole.params:
        np.testing.assert_array_equal(grouped.params[key], whole.params[key])
        np.testing.assert_array_equal(grouped.params[key][1], solo.params[key][0])
    for name in whole.metrics:
        np.testing.assert_array_equal(grouped.series(name), whole.series(name))
