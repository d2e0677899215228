"""Losses: each returns the per-member loss (S,) and its gradient with respect to the output.

Outputs are (S, B, O) for last-step readout or (S, T, B, O) for every-step readout; `mask`
(same shape without O) weights the steps that count, e.g. only the answer phase of a task.
"""

from __future__ import annotations

import numpy as np


def _weights(shape: tuple, mask: np.ndarray | None, dtype) -> tuple[np.ndarray, np.ndarray]:
    w = np.ones(shape, dtype=dtype) if mask is None else mask.astype(dtype)
    S = shape[0]
    total = w.reshape(S, -1).sum(axis=1)  # (S,)
    if np.any(total <= 0):
        raise ValueError("loss mask selects no step for some member; every batch needs a scored step")
    return w, total


def mse(y: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None):
    """Mean squared error, averaged over scored (step, example) pairs and output units."""
    w, total = _weights(y.shape[:-1], mask, y.dtype)
    diff = y - target  # (S,...,O)
    denom = (total * y.shape[-1]).reshape((-1,) + (1,) * (y.ndim - 1))
    loss = (w[..., None] * diff * diff).reshape(y.shape[0], -1).sum(axis=1) / denom.ravel()
    dy = 2.0 * w[..., None] * diff / denom
    return loss, dy.astype(y.dtype, copy=False)


def softmax_xent(logits: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None):
    """Softmax cross-entropy in nats, averaged over scored (step, example) pairs.
    target holds class indices with the shape of logits minus the last axis."""
    w, total = _weights(logits.shape[:-1], mask, logits.dtype)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logz = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    logp = shifted - logz  # (S,...,C)
    picked = np.take_along_axis(logp, target[..., None].astype(np.intp), axis=-1)[..., 0]
    denom = total.reshape((-1,) + (1,) * (logits.ndim - 2))
    loss = -(w * picked).reshape(logits.shape[0], -1).sum(axis=1) / total
    dlogits = np.exp(logp)
    np.put_along_axis(
        dlogits,
        target[..., None].astype(np.intp),
        np.take_along_axis(dlogits, target[..., None].astype(np.intp), axis=-1) - 1.0,
        axis=-1,
    )
    dlogits *= (w / denom)[..., None]
    return loss, dlogits.astype(logits.dtype, copy=False)


def accuracy(logits: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Share of scored (step, example) pairs whose argmax is the target, per member."""
    w, total = _weights(logits.shape[:-1], mask, np.float64)
    hit = (logits.argmax(axis=-1) == target).astype(np.float64)
    return (w * hit).reshape(logits.shape[0], -1).sum(axis=1) / total


LOSSES = {"mse": mse, "xent": softmax_xent}
