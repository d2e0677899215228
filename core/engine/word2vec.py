"""Skip-gram with negative sampling (Mikolov et al. 2013), in numpy.

For a centre word c and a context word o within the window, with k noise words n_j drawn
from the unigram distribution raised to 3/4:
    L = -log sigma(u_o . v_c) - sum_j log sigma(-u_{n_j} . v_c)
v are the input vectors (the embedding), u the output vectors. Frequent words are
subsampled: a token of relative frequency f is kept with probability min(1, sqrt(t / f)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.spec import from_dict
from ablab.core.engine.train import TrainResult
from ablab.core.errors import ConfigError


@dataclass(frozen=True)
class SGNSConfig:
    dim: int = 16
    window: int = 2
    negatives: int = 5
    subsample: float = 1e-3  # t; 0 turns subsampling off
    epochs: int = 5
    lr: float = 0.05
    batch: int = 256

    def __post_init__(self):
        for key in ("dim", "window", "negatives", "epochs", "batch"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"word2vec {key} must be a whole number >= 1, got {value!r}")
        if not 0 <= self.subsample < 1 or not self.lr > 0:
            raise ConfigError("word2vec needs 0 <= subsample < 1 and lr > 0")


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def pairs(tokens: np.ndarray, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(centre, context) pairs; each centre uses a window size drawn from 1..window, which
    weights near contexts more, as in the reference implementation's dynamic window."""
    n = len(tokens)
    reach = rng.integers(1, window + 1, n)
    centres, contexts = [], []
    for offset in range(1, window + 1):
        ok = reach >= offset
        for sign in (-1, 1):
            idx = np.arange(n)
            other = idx + sign * offset
            valid = ok & (other >= 0) & (other < n)
            centres.append(tokens[idx[valid]])
            contexts.append(tokens[other[valid]])
    return np.concatenate(centres), np.concatenate(contexts)


NOISE_TABLE = 1 << 20  # noise words are looked up in a table of this many slots, as in word2vec.c


def noise_table(counts: np.ndarray) -> np.ndarray:
    """Word ids filling NOISE_TABLE slots in proportion to count ** 0.75: a uniform slot is a
    draw from the noise distribution (to 1 / NOISE_TABLE)."""
    cdf = np.cumsum(counts**0.75)
    return np.searchsorted(cdf / cdf[-1], (np.arange(NOISE_TABLE) + 0.5) / NOISE_TABLE).astype(np.int64)


def row_sums(words: np.ndarray, rows: np.ndarray, weights: np.ndarray, x: np.ndarray, vocab: int) -> np.ndarray:
    """(vocab, D): for each i, weights[i] * x[rows[i]] added to row words[i], repeats summed.
    The same as np.add.at on a zero matrix, as one sparse product: about 4x faster."""
    import scipy.sparse as sp  # here, not at import: every worker imports this module, few train word vectors

    return sp.csr_matrix((weights, (words, rows)), shape=(vocab, len(x))) @ x


def loss_and_dscore(vc: np.ndarray, ut: np.ndarray) -> tuple[float, np.ndarray]:
    """The summed loss of n (centre, context + noise) rows and dL/dscore (n, 1+k), where
    score = ut . vc: dL/dv_c = sum_k g_k u_k, dL/du_k = g_k v_c.
    vc (n, D) centre vectors; ut (n, 1+k, D) the context's output vector, then the noise words'."""
    score = np.einsum("nkd,nd->nk", ut, vc)
    loss = float(np.logaddexp(0, -score[:, 0]).sum() + np.logaddexp(0, score[:, 1:]).sum())
    g = _sigmoid(score)  # sigma(s) - 1 for the context, sigma(s) for noise
    g[:, 0] -= 1
    return loss, g


def train_sgns(tokens: np.ndarray, vocab: int, config: SGNSConfig, seed: int) -> tuple[np.ndarray, list[float]]:
    """Input vectors (vocab, dim) and the mean loss of each epoch. Minibatch SGD on all
    (centre, context) pairs in a random order, the step size falling linearly to zero over
    training (as in word2vec.c); updates of a word repeated within a batch are summed. float32."""
    rng = streams.rng(seed, streams.WORD2VEC)
    counts = np.bincount(tokens, minlength=vocab).astype(np.float64)
    freq = counts / counts.sum()
    table = noise_table(counts)
    v = (rng.uniform(-0.5, 0.5, (vocab, config.dim)) / config.dim).astype(np.float32)
    u = np.zeros((vocab, config.dim), np.float32)
    k = 1 + config.negatives
    losses = []
    for epoch in range(config.epochs):
        if config.subsample > 0:
            keep = rng.random(len(tokens)) < np.minimum(
                1.0, np.sqrt(config.subsample / np.maximum(freq[tokens], 1e-12))
            )
            stream = tokens[keep]
        else:
            stream = tokens
        c, o = pairs(stream, config.window, rng)
        order = rng.permutation(len(c))
        batches = range(0, len(order), config.batch)
        total = 0.0
        for i, start in enumerate(batches):
            lr = config.lr * (1 - (epoch * len(batches) + i) / (config.epochs * len(batches)))
            b = order[start : start + config.batch]
            n = len(b)
            targets = table[rng.integers(0, NOISE_TABLE, (n, k))]  # (n, 1+k): the context, then k noise words
            targets[:, 0] = o[b]
            vc, ut = v[c[b]], u[targets]  # (n, D), (n, 1+k, D)
            loss, g = loss_and_dscore(vc, ut)
            total += loss
            g *= lr
            dv = np.einsum("nk,nkd->nd", g, ut)  # (n, D)
            v -= row_sums(c[b], np.arange(n), np.ones(n, np.float32), dv, vocab)
            u -= row_sums(targets.ravel(), np.repeat(np.arange(n), k), g.ravel(), vc, vocab)  # du = g v_c
        losses.append(total / max(len(c), 1))
    return v, losses


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


class Word2VecModel:
    """model.kind = "word2vec": skip-gram vectors trained on a corpus task's token stream.
    The task measures them (task.measure(vectors) -> {name: value}). Its own model keys
    (epochs, lr, batch) set the training; [train] has no use here."""

    kind = "word2vec"
    recurrent = False
    readout = "corpus"

    def __init__(self, config: SGNSConfig):
        self.config = config

    @classmethod
    def from_config(cls, model: dict, task, registry) -> Word2VecModel:
        if not (callable(getattr(task, "corpus", None)) and callable(getattr(task, "measure", None))):
            raise ConfigError(
                'model.kind = "word2vec" needs a corpus task (one with corpus() and measure()), such as wordpairs'
            )
        return cls(from_dict(SGNSConfig, model, "model"))

    def vectors(self, task, seed: int) -> tuple[np.ndarray, list[float]]:
        """Input vectors (vocab, dim) of one seed and the mean loss of each epoch."""
        return train_sgns(task.corpus(seed), task.vocab, self.config, seed)

    def fit(self, task, spec, seeds, probes) -> TrainResult:
        """Each seed trains alone (SGNS has no ensemble axis); loss per epoch at steps 1..epochs
        and the task's measures of the vectors, as probe "word_vectors", after the last."""
        started = time.perf_counter()
        fitted = [self.vectors(task, seed) for seed in seeds]
        epochs = self.config.epochs
        result = TrainResult(list(seeds), {"vectors": np.stack([v for v, _ in fitted])}, list(range(1, epochs + 1)))
        result.metrics["loss"] = [np.array([losses[e] for _, losses in fitted]) for e in range(epochs)]
        result.diverged_at = np.full(len(seeds), -1)
        for seed, (vectors, _) in zip(seeds, fitted):
            result.probe_records += [
                {
                    "step": epochs,
                    "probe": "word_vectors",
                    "name": name,
                    "layer": -1,
                    "index": -1,
                    "seed": seed,
                    "value": value,
                }
                for name, value in task.measure(vectors).items()
            ]
        result.seconds = time.perf_counter() - started
        return result

    def gradcheck(self, tol: float, seed: int = 0) -> dict[str, float]:
        raise ConfigError('model.kind = "word2vec" has no gradient check; remove gradcheck from the study')
