"""Tasks: deterministic generators and baselines that match Monte-Carlo estimates."""

import numpy as np
import pytest
from conftest import need_wordnet
from plugins_helpers import marginal_xent  # noqa: F401  (see conftest: tests/ is on sys.path)

from ablab.core.engine.losses import softmax_xent
from ablab.core.errors import ConfigError
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)
TASKS = {
    "adding": {"length": 20},
    "copy": {"delay": 15},
    "recall": {"max_lag": 6},
    "temporal_order": {"length": 30},
    "reber": {},
    "charlm": {"length": 20},
    "teacher": {},
    "wordpairs": {"sentences": 200},
    "wordnet": {},
}


def task(name):
    if name == "wordnet":
        need_wordnet()
    return REGISTRY.get("task", name)(**TASKS[name])


def test_every_builtin_task_is_covered():
    assert set(REGISTRY.names("task")) == set(TASKS)


@pytest.mark.parametrize("name", TASKS)
def test_generator_is_deterministic_per_seed(name):
    t = task(name)
    a = t.batch(np.random.default_rng(5), 16)
    b = t.batch(np.random.default_rng(5), 16)
    c = t.batch(np.random.default_rng(6), 16)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


@pytest.mark.parametrize("name", TASKS)
def test_shapes_match_the_declared_interface(name):
    t = task(name)
    batch = t.batch(np.random.default_rng(0), 7)
    if t.readout == "vector":
        assert batch.x.shape == (7, t.n_in) and batch.y.shape == (7, t.n_out)
        return
    T = batch.x.shape[0]
    if t.vocab is None:
        assert batch.x.shape == (T, 7, t.n_in)
    else:
        assert batch.x.shape == (T, 7) and batch.x.min() >= 0 and batch.x.max() < t.vocab
    expected_y = (7,) if t.readout == "last" else (T, 7)
    if t.loss == "mse":
        expected_y += (t.n_out,)
    else:
        assert batch.y.min() >= 0 and batch.y.max() < t.n_out
    assert batch.y.shape == expected_y


# not wordnet: with 11,600 words, 20,000 draws a step underestimate the entropy by ~(V-1)/2N = 0.3
@pytest.mark.parametrize("name", ["copy", "recall", "temporal_order", "charlm", "wordpairs"])
def test_xent_baseline_matches_monte_carlo(name):
    """The best input-ignoring predictor outputs each step's marginal class frequencies."""
    t = task(name)
    batch = t.batch(np.random.default_rng(1), 20000)
    estimate = marginal_xent(batch.y, t.n_out, batch.mask)
    assert estimate == pytest.approx(t.baseline(), rel=0.02)


def test_adding_baseline_matches_monte_carlo():
    t = task("adding")
    batch = t.batch(np.random.default_rng(1), 50000)
    assert np.mean((batch.y - 1.0) ** 2) == pytest.approx(1 / 6, rel=0.02)
    markers = batch.x[..., 1]
    assert np.all(markers[:10].sum(axis=0) == 1) and np.all(markers[10:].sum(axis=0) == 1)


def test_teacher_baseline_matches_monte_carlo():
    t = task("teacher")
    batch = t.batch(np.random.default_rng(1), 50000)
    assert batch.y.var() == pytest.approx(t.baseline(), rel=0.03)
    again = REGISTRY.get("task", "teacher")().batch(np.random.default_rng(1), 5)
    np.testing.assert_allclose(again.y, batch.y[:5], rtol=1e-12)  # a fresh task object, the same teacher
    other = REGISTRY.get("task", "teacher")(teacher_seed=1).batch(np.random.default_rng(1), 5)
    assert not np.allclose(other.y, t.batch(np.random.default_rng(1), 5).y)


def test_relu_teacher_has_unit_variance_and_is_piecewise_linear():
    t = REGISTRY.get("task", "teacher")(activation="relu", n_in=4)
    batch = t.batch(np.random.default_rng(1), 50000)
    assert batch.y.var() == pytest.approx(t.baseline(), rel=0.03)
    # positively homogeneous: a relu net without biases has y(2x) = 2 y(x); a tanh teacher does not
    weights, scale = t._teacher
    x = batch.x[:100]
    np.testing.assert_allclose(t._apply(weights, 2 * x, scale), 2 * t._apply(weights, x, scale), rtol=1e-10)
    tanh = REGISTRY.get("task", "teacher")(n_in=4)
    w, sc = tanh._teacher
    assert not np.allclose(tanh._apply(w, 2 * x, sc), 2 * tanh._apply(w, x, sc))
    with pytest.raises(ConfigError, match="activation must be one of 'tanh', 'relu', got 'gelu'"):
        REGISTRY.get("task", "teacher")(activation="gelu")


def test_reber_strings_follow_the_embedded_grammar():
    from plugins_helpers import accepts_embedded_reber

    t = task("reber")
    batch = t.batch(np.random.default_rng(2), 500)
    symbols = "BTSXPVE"
    for b in range(500):
        n = int(batch.mask[:, b].sum())
        string = "".join(symbols[i] for i in batch.x[:n, b]) + symbols[batch.y[n - 1, b]]
        assert accepts_embedded_reber(string), string
    logits = np.zeros((1,) + batch.y.shape + (7,))
    loss, _ = softmax_xent(logits, batch.y[None], batch.mask[None])
    assert loss[0] == pytest.approx(np.log(7))


def test_recall_places_the_symbol_lag_steps_before_the_query():
    t = REGISTRY.get("task", "recall")(max_lag=5)
    batch = t.batch_at_lag(np.random.default_rng(0), 50, 3)
    T = batch.x.shape[0]
    np.testing.assert_array_equal(batch.x[T - 5], batch.y)
    assert np.all(batch.x[-1] == t.options["symbols"])  # query marker


@pytest.mark.parametrize(
    "name,options,message",
    [
        ("adding", {"length": 1}, "length must be >= 2"),
        ("copy", {"symbols": 0}, "symbols must be >= 1"),
        ("recall", {"min_lag": 5, "max_lag": 2}, "min_lag <= max_lag"),
        ("copy", {"delai": 3}, "no option 'delai'"),
        ("adding", {"length": 2.5}, "whole number"),
    ],
)
def test_bad_task_options(name, options, message):
    from ablab.core.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        REGISTRY.get("task", name)(**options)


def test_wordpairs_batches_are_windows_of_one_stream_built_once():
    t = task("wordpairs")
    stream = t.corpus(0)
    batches = [t.batch(np.random.default_rng(seed), 6) for seed in (1, 2)]
    text = " " + " ".join(map(str, stream)) + " "
    for b in batches:
        for column in range(b.x.shape[1]):
            window = np.concatenate([b.x[:, column], b.y[-1:, column]])
            assert " " + " ".join(map(str, window)) + " " in text  # a window of corpus(0), not of a fresh corpus
