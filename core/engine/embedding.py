"""The token-embedding contract: integer tokens (S, T, B) -> vectors (S, T, B, dim).

    init_member(rng)                   -> dict of float64 arrays (no ensemble axis)
    forward(p, tokens)                 -> x (S, T, B, dim)
    backward(p, tokens, dx, grads)     adds dL/dp into grads (nothing to return: tokens
                                       have no gradient)
Parameters live in the model's flat dict under "emb.NAME"; a frozen embedding keeps them
there too (each member draws its own) and leaves their gradient at zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ablab.core.engine.options import check_options
from ablab.core.errors import ConfigError, PluginError


class Embedding:
    summary: str = ""
    defaults: dict[str, Any] = {}
    trainable: bool = False

    def __init__(self, registry, vocab: int, **options: Any) -> None:
        if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1:
            raise ConfigError(f"an embedding needs a vocabulary size >= 1, got {vocab!r}")
        self.options = check_options(f"embedding {type(self).__name__}", self.defaults, options, min_whole=1)
        self.vocab = vocab
        self.registry = registry

    @property
    def dim(self) -> int:
        return int(self.options["dim"])

    def attach(self, task) -> None:
        """ablab calls this once with the token task, before init_member: an embedding
        pretrained on the task's own stream (word2vec) keeps it. Most need nothing."""

    def init_member(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {}

    def forward(self, p: dict, tokens: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, p: dict, tokens: np.ndarray, dx: np.ndarray, grads: dict) -> None:
        return None


def lookup(table: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """table (S, V, D), tokens (S, ...) -> (S, ..., D), each member reading its own table."""
    S = table.shape[0]
    return np.take_along_axis(table, tokens.reshape(S, -1, 1), axis=1).reshape(tokens.shape + (table.shape[-1],))


def scatter_add(grad_table: np.ndarray, tokens: np.ndarray, dx: np.ndarray) -> None:
    """grad_table[s, tokens[s, ...]] += dx[s, ...]: the sparse gradient of a lookup."""
    S, V, D = grad_table.shape
    flat_index = (tokens.reshape(S, -1) + np.arange(S)[:, None] * V).ravel()
    np.add.at(grad_table.reshape(S * V, D), flat_index, dx.reshape(-1, D))


def validate_plugin(name: str, obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Embedding)):
        raise PluginError(
            f"embedding {name!r} must be a subclass of ablab.core.engine.embedding.Embedding, got {obj!r}"
        )
    if obj.forward is Embedding.forward:
        raise PluginError(f"embedding {name!r} ({obj.__qualname__}) does not implement forward()")
