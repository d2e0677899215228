"""Independent reference computations used by the task tests."""

import numpy as np


def marginal_xent(y: np.ndarray, classes: int, mask: np.ndarray | None) -> float:
    """Cross-entropy of predicting, at each step, the empirical class frequencies of that step.
    y: (T, B) or (B,) class indices."""
    y = y if y.ndim == 2 else y[None]
    w = np.ones(y.shape) if mask is None else mask
    total = 0.0
    for t in range(y.shape[0]):
        counts = np.bincount(y[t], weights=w[t], minlength=classes)
        if counts.sum() == 0:
            continue
        p = counts / counts.sum()
        nz = p > 0
        total += -(counts[nz] * np.log(p[nz])).sum()
    return total / w.sum()


REBER = {
    0: {"B": 1},
    1: {"T": 2, "P": 3},
    2: {"S": 2, "X": 4},
    3: {"T": 3, "V": 5},
    4: {"X": 3, "S": 6},
    5: {"P": 4, "V": 6},
    6: {"E": None},
}


def accepts_reber(s: str) -> bool:
    state = 0
    for _i, c in enumerate(s):
        if state is None or c not in REBER[state]:
            return False
        state = REBER[state][c]
    return state is None


def accepts_embedded_reber(s: str) -> bool:
    return len(s) >= 4 and s[0] == "B" and s[1] in "TP" and s[-2] == s[1] and s[-1] == "E" and accepts_reber(s[2:-2])
