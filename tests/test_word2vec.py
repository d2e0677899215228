"""Skip-gram with negative sampling: loss falls, results are deterministic per seed."""

import numpy as np
import pytest

from ablab.core.engine.word2vec import SGNSConfig, loss_and_dscore, pairs, row_sums, train_sgns
from ablab.core.errors import ConfigError
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)


def corpus(seed=0):
    return REGISTRY.get("task", "wordpairs")(sentences=600).corpus(seed)


def test_loss_decreases_and_is_deterministic_per_seed():
    task = REGISTRY.get("task", "wordpairs")(sentences=600)
    config = SGNSConfig(dim=8, epochs=4)
    v1, losses = train_sgns(task.corpus(0), task.vocab, config, seed=3)
    v2, again = train_sgns(task.corpus(0), task.vocab, config, seed=3)
    v3, _ = train_sgns(task.corpus(0), task.vocab, config, seed=4)
    assert losses[-1] < 0.8 * losses[0]
    assert all(b <= a + 1e-9 for a, b in zip(losses, losses[1:]))
    np.testing.assert_array_equal(v1, v2)
    assert losses == again and not np.array_equal(v1, v3)


def test_sgns_gradient_matches_finite_differences_in_float64():
    rng = np.random.default_rng(0)
    vc, ut = rng.normal(size=(4, 3)), rng.normal(size=(4, 6, 3))
    _, g = loss_and_dscore(vc, ut)
    dv, du = np.einsum("nk,nkd->nd", g, ut), g[..., None] * vc[:, None, :]  # as train_sgns applies them
    eps = 1e-6
    for x, analytic in ((vc, dv), (ut, du)):
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            up = loss_and_dscore(vc, ut)[0]
            x[i] = old - eps
            down = loss_and_dscore(vc, ut)[0]
            x[i] = old
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_row_sums_add_repeated_words_like_add_at():
    rng = np.random.default_rng(1)
    words, rows, weights, x = (
        rng.integers(0, 5, 40),
        rng.integers(0, 7, 40),
        rng.normal(size=40),
        rng.normal(size=(7, 3)),
    )
    expected = np.zeros((5, 3))
    np.add.at(expected, words, weights[:, None] * x[rows])
    np.testing.assert_allclose(row_sums(words, rows, weights, x, 5), expected, rtol=1e-12)


def test_pairs_stay_inside_the_window():
    tokens = np.arange(10)
    c, o = pairs(tokens, 2, np.random.default_rng(0))
    assert np.all(np.abs(c - o) >= 1) and np.all(np.abs(c - o) <= 2)
    full_c, full_o = pairs(tokens, 1, np.random.default_rng(0))
    assert len(full_c) == 18  # every neighbour pair, both directions


def test_corpus_is_deterministic_and_antonyms_share_contexts():
    a, b, c = corpus(0), corpus(0), corpus(1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    words = REGISTRY.get("task", "wordpairs")().words
    text = " ".join(words[t] for t in a)
    assert "the soup is hot today" in text and "the soup is cold today" in text


def test_bad_word2vec_settings():
    with pytest.raises(ConfigError, match="dim must be a whole number"):
        SGNSConfig(dim=0)
    with pytest.raises(ConfigError, match="subsample"):
        SGNSConfig(subsample=1.5)


@pytest.mark.parametrize("finetune", [False, True])
def test_word2vec_embedding_feeds_a_recurrent_model(finetune):
    from ablab.core.engine.gradcheck import check_model
    from ablab.core.engine.model import RecurrentNet, RecurrentSpec
    from ablab.core.engine.train import TrainSpec, train

    task = REGISTRY.get("task", "reber")()
    spec = RecurrentSpec(
        n_in=task.n_in,
        n_out=task.n_out,
        hidden=4,
        cell="lstm",
        readout="all",
        vocab=task.vocab,
        embedding={"name": "word2vec", "dim": 5, "epochs": 2, "stream_batches": 3, "finetune": finetune},
    )
    net = RecurrentNet(spec, REGISTRY)
    with pytest.raises(ConfigError, match="needs a token task"):
        net.init([0])
    net.embedding.attach(task)
    a, b = net.init([0, 1]), net.init([0, 1])
    np.testing.assert_array_equal(a["emb.E"], b["emb.E"])  # pretraining is deterministic per seed
    assert not np.array_equal(a["emb.E"][0], a["emb.E"][1])
    result = train(net, task, TrainSpec(steps=3, batch_size=4), [0])
    assert np.array_equal(result.params["emb.E"], net.init([0])["emb.E"].astype(np.float32)) != finetune
    errors = check_model(net, loss="xent")
    assert ("emb.E" in errors) == finetune and max(errors.values()) < 1e-6
