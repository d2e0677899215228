"""LSTM and both GRU forms against a scalar, loop-by-loop evaluation of the published equations."""

import math

import numpy as np
import pytest

from ablab.core.engine.fused_cell import block_major
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)
H = 2


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def matvec(h, U, block):
    """(h U)[block j] for a row vector h and U of shape (H, k*H)."""
    return [sum(h[i] * U[i][block * H + j] for i in range(H)) for j in range(H)]


def step_input(cell, a):
    """a_t for one example, given as the flat row [block 0, block 1, ...], in the cell's layout."""
    a = np.asarray(a, dtype=np.float64)[None, None]  # (S, B, n_blocks*H)
    if block_major(cell):  # column block k -> a[:, k], (S, n_blocks, B, H)
        a = a.reshape(1, 1, -1, H).swapaxes(1, 2)
    return a


def run_cell(name, options, U, a_seq, extra=None):
    cell = REGISTRY.get("cell", name)(REGISTRY, **options)
    p = {k: np.asarray(v, dtype=np.float64)[None] for k, v in {"U": U, **(extra or {})}.items()}
    state = tuple(np.zeros((1, 1, H)) for _ in cell.state_names)
    outs = []
    for a in a_seq:
        state, _ = cell.step(p, step_input(cell, a), state)
        outs.append(state[0][0, 0].tolist())
    return outs


RNG = np.random.default_rng(42)
A_LSTM = RNG.normal(0, 1, (3, 4 * H)).tolist()
U_LSTM = RNG.normal(0, 0.5, (H, 4 * H)).tolist()
A_GRU = RNG.normal(0, 1, (3, 3 * H)).tolist()
U_RU = RNG.normal(0, 0.5, (H, 2 * H)).tolist()
U_N = RNG.normal(0, 0.5, (H, H)).tolist()
B_HN = RNG.normal(0, 0.5, H).tolist()


def test_lstm_matches_hand_computation():
    h, c, expected = [0.0] * H, [0.0] * H, []
    for a in A_LSTM:
        z = [a[k * H + j] + matvec(h, U_LSTM, k)[j] for k in range(4) for j in range(H)]
        i = [sig(z[j]) for j in range(H)]
        f = [sig(z[H + j]) for j in range(H)]
        o = [sig(z[2 * H + j]) for j in range(H)]
        g = [math.tanh(z[3 * H + j]) for j in range(H)]
        c = [f[j] * c[j] + i[j] * g[j] for j in range(H)]
        h = [o[j] * math.tanh(c[j]) for j in range(H)]
        expected.append(h)
    np.testing.assert_allclose(run_cell("lstm", {}, U_LSTM, A_LSTM), expected, rtol=0, atol=1e-14)


def test_lstm_peephole_cifg_matches_hand_computation():
    """Coupled gates (f = 1 - i) with peepholes: blocks are [i, o, g]."""
    p_i, p_o = [0.3, -0.7], [0.5, 0.2]
    a_seq = [row[: 3 * H] for row in A_LSTM]
    U = [row[: 3 * H] for row in U_LSTM]
    h, c, expected = [0.0] * H, [0.0] * H, []
    for a in a_seq:
        z = [a[k * H + j] + matvec(h, U, k)[j] for k in range(3) for j in range(H)]
        i = [sig(z[j] + p_i[j] * c[j]) for j in range(H)]
        g = [math.tanh(z[2 * H + j]) for j in range(H)]
        c = [(1 - i[j]) * c[j] + i[j] * g[j] for j in range(H)]
        o = [sig(z[H + j] + p_o[j] * c[j]) for j in range(H)]
        h = [o[j] * math.tanh(c[j]) for j in range(H)]
        expected.append(h)
    got = run_cell("lstm-cifg", {"peepholes": True}, U, a_seq, {"p_i": p_i, "p_o": p_o})
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)


def gru_reference(reset_after):
    h, expected = [0.0] * H, []
    for a in A_GRU:
        zr = [a[j] + matvec(h, U_RU, 0)[j] for j in range(H)]
        zu = [a[H + j] + matvec(h, U_RU, 1)[j] for j in range(H)]
        r = [sig(v) for v in zr]
        u = [sig(v) for v in zu]
        if reset_after:
            hn = [matvec(h, U_N, 0)[j] + B_HN[j] for j in range(H)]
            n = [math.tanh(a[2 * H + j] + r[j] * hn[j]) for j in range(H)]
        else:
            rh = [r[j] * h[j] for j in range(H)]
            n = [math.tanh(a[2 * H + j] + matvec(rh, U_N, 0)[j]) for j in range(H)]
        h = [u[j] * h[j] + (1 - u[j]) * n[j] for j in range(H)]
        expected.append(h)
    return expected


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_matches_hand_computation(reset_after):
    cell = REGISTRY.get("cell", "gru")(REGISTRY, reset_after=reset_after)
    p = {"U_ru": np.asarray(U_RU)[None], "U_n": np.asarray(U_N)[None]}
    if reset_after:
        p["b_hn"] = np.asarray(B_HN)[None]
    state, got = (np.zeros((1, 1, H)),), []
    for a in A_GRU:
        state, _ = cell.step(p, step_input(cell, a), state)
        got.append(state[0][0, 0].tolist())
    np.testing.assert_allclose(got, gru_reference(reset_after), rtol=0, atol=1e-14)
    assert np.abs(np.subtract(got, gru_reference(not reset_after))).max() > 1e-3  # the forms differ
