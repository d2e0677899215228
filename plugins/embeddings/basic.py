"""One-hot, fixed random and learned lookup-table embeddings."""

import numpy as np

from ablab.core.engine.embedding import Embedding, lookup, scatter_add
from ablab.plugin import hookimpl


class OneHot(Embedding):
    """Token k becomes the unit vector e_k; dim is the vocabulary size."""

    summary = "one-hot vectors, dim = vocabulary size (no parameters)"
    defaults = {}

    @property
    def dim(self):
        return self.vocab

    def forward(self, p, tokens):
        return np.eye(self.vocab, dtype=np.float32)[tokens]


class Random(Embedding):
    """Fixed Gaussian vectors N(0, 1/dim), drawn per member and never trained."""

    summary = "fixed random Gaussian vectors, N(0, 1/dim) entries, not trained"
    defaults = {"dim": 16}

    def init_member(self, rng):
        return {"E": rng.normal(0.0, 1.0 / np.sqrt(self.dim), (self.vocab, self.dim))}

    def forward(self, p, tokens):
        return lookup(p["E"], tokens)


class Learned(Random):
    """A trainable lookup table: x_t = E[token_t]. Its gradient is sparse: only the rows of
    tokens seen in the batch receive dE[k] = sum of dx_t over the steps where token_t = k."""

    summary = "trainable lookup table with an exact sparse gradient"
    trainable = True

    def backward(self, p, tokens, dx, grads):
        scatter_add(grads["E"], tokens, dx)


@hookimpl
def register_embeddings(register):
    register("onehot", OneHot)
    register("random", Random)
    register("learned", Learned)
