"""Gradient clipping per ensemble member, recording the pre-clip norm and the decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ablab.core.engine.spec import one_of, positive

CLIP_KINDS = ("none", "norm", "value")


@dataclass(frozen=True)
class ClipSpec:
    kind: str = "none"  # none | norm (global norm, Pascanu et al. 2013) | value (element-wise)
    threshold: float = 1.0

    def __post_init__(self):
        one_of(self.kind, "clip.kind", CLIP_KINDS)
        positive(self.threshold, "clip.threshold")


def global_norm(grads: dict) -> np.ndarray:
    """Per-member L2 norm over all parameters: (S,) float64."""
    total = None
    for g in grads.values():
        sq = np.einsum("ij,ij->i", g.reshape(g.shape[0], -1), g.reshape(g.shape[0], -1), dtype=np.float64)
        total = sq if total is None else total + sq
    return np.sqrt(total)


def clip(spec: ClipSpec, grads: dict) -> tuple[np.ndarray, np.ndarray]:
    """Clip grads in place. Returns (pre-clip global norm (S,), clipped (S,) bool)."""
    norm = global_norm(grads)
    S = norm.shape[0]
    if spec.kind == "norm":
        # Pascanu et al. (2013), Algorithm 1: if ||g|| >= threshold, g <- threshold/||g|| * g
        clipped = norm >= spec.threshold
        scale = np.where(clipped, spec.threshold / np.maximum(norm, 1e-300), 1.0)
        for g in grads.values():
            g *= scale.astype(g.dtype).reshape((S,) + (1,) * (g.ndim - 1))
    elif spec.kind == "value":
        clipped = np.zeros(S, dtype=bool)
        for g in grads.values():
            clipped |= (np.abs(g.reshape(S, -1)) > spec.threshold).any(axis=1)
            np.clip(g, -spec.threshold, spec.threshold, out=g)
    else:
        clipped = np.zeros(S, dtype=bool)
    return norm, clipped
