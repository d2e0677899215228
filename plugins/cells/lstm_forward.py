"""The standard LSTM's training forward as ONE compiled call per layer (FusedCell promise 7).

Per member and step: z = [x_t, 1, h_{t-1}] [W; b; U], the four gate blocks side by side in one
product, by gemm.mm (a direct BLAS call, MKL's where installed: core/engine/blas.py),
then the gates, g, c, tanh(c) and h in a loop that LLVM vectorises, the Tape's slots and h_t
(into XH, the next step's left factor) written inside. numba has no
vector tanh (PyPI's llvmlite lacks SVML; its scalar tanhf is 55x numpy's), so float32 uses
tanh32 below, which vectorises: within 1 ulp of float64's tanh rounded to float32 (numpy's
float32 tanh is too; they differ at ~2% of inputs, tested), and the gates sigmoid32, 1 / (1 +
e^-x) with the same vectorised exp. float64 keeps math.tanh and the `sigmoid` plugin's
formula, 0.5 + 0.5 tanh(x/2).

Imported on the first compiled forward (numba's import is not paid by commands that never
train an LSTM); cache=True keeps the compiled code on disk, as lstm_kernel.py's.
"""

from __future__ import annotations

import math

import numpy as np

from ablab.core.engine import gemm
from ablab.core.engine.gemm import mm
from ablab.core.engine.jit import numba

overload = numba.extending.overload

f32 = np.float32
# Q(s) = (tanh(x) - x) / x^3 on s = x^2 in [0, 1]: a degree-6 Chebyshev fit, rel. error 8e-8
# with float32 coefficients (benchmarks/lstm_forward_kernel.py, NOTES.md engine session 9)
Q0, Q1, Q2, Q3 = f32(-0.3333333134651184), f32(0.13333140313625336), f32(-0.05393609777092934), f32(0.02166561223566532)
Q4, Q5, Q6 = f32(-0.008229399099946022), f32(0.002519686706364155), f32(-0.00042374819167889655)
E2, E3, E4, E5, E6 = f32(1 / 2), f32(1 / 6), f32(1 / 24), f32(1 / 120), f32(1 / 720)  # e^r, |r| <= ln2/2
LOG2E, LN2_HI, LN2_LO = f32(1.4426950408889634), f32(0.693145751953125), f32(1.428606765330187e-06)
MAGIC = f32(12582912.0)  # 1.5 * 2^23: (y + MAGIC) - MAGIC rounds y to the nearest integer
ONE, TWO, YMAX = f32(1.0), f32(2.0), f32(19.0)  # tanh(9.5) rounds to 1 in float32
ELO, EHI = f32(-87.0), f32(88.0)  # e^y stays a normal float32 (2^k's exponent field in 1..254)
# fast-math without `reassoc`, which would fold the MAGIC rounding away, and without `arcp` and
# `afn`, which let LLVM divide by an approximate reciprocal that depends on the vector width
# (256- and 512-bit code, core/engine/jit.py, then differed by 1-2 ulp in 28% of sigmoids)
FASTMATH = {"nnan", "ninf", "nsz", "contract"}


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def exp32(y):  # pragma: no cover (compiled)
    """float32 e^y for y in [ELO, EHI]: 2^k e^r by Cody-Waite (|r| <= ln2/2, a degree-6
    polynomial), 2^k made in the exponent bits; inlined, so its callers' loops still vectorise."""
    k = (y * LOG2E + MAGIC) - MAGIC
    r = (y - k * LN2_HI) - k * LN2_LO
    e = E6 * r + E5
    e = e * r + E4
    e = e * r + E3
    e = e * r + E2
    e = e * r + ONE
    e = e * r + ONE
    return e * np.int32((np.int32(k) + 127) << 23).view(np.float32)


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def tanh32(x):  # pragma: no cover (compiled)
    """float32 tanh without a branch: |x| < 1: x + x^3 Q(x^2); else 1 - 2 / (e^{2|x|} + 1)
    (then the error of e is damped: 2/(e+1) <= 0.24), e by exp32. Both sides are computed, one
    kept: that is what lets LLVM vectorise."""
    ax = abs(x)
    x2 = x * x
    q = Q6 * x2 + Q5
    q = q * x2 + Q4
    q = q * x2 + Q3
    q = q * x2 + Q2
    q = q * x2 + Q1
    q = q * x2 + Q0
    small = x + x * x2 * q
    e = exp32(min(TWO * ax, YMAX))
    big = ONE - TWO / (e + ONE)
    big = big if x >= 0 else -big
    return small if ax < ONE else big


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def sigmoid32(x):  # pragma: no cover (compiled)
    """float32 1 / (1 + e^-x), e^-x as in tanh32 (clamped to float32's normal range): within 4
    ulp of float64's sigmoid rounded, and 0.6x tanh32's time. The sigmoid plugin's 0.5 + 0.5
    tanh(x/2) loses all relative precision below ~1e-7 (0.5 + 0.5 * -0.9999999 cancels)."""
    return ONE / (ONE + exp32(min(max(-x, ELO), EHI)))


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def vtanh32(x, out):  # pragma: no cover (compiled)
    """tanh32 over a float32 array (for its accuracy test and the benchmark)."""
    for j in range(x.size):
        out[j] = tanh32(x[j])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def vsigmoid32(x, out):  # pragma: no cover (compiled)
    """sigmoid32 over a float32 array (for its accuracy test and the benchmark)."""
    for j in range(x.size):
        out[j] = sigmoid32(x[j])


def act_tanh(x):  # the Python body is never run: numba resolves it by dtype below
    raise NotImplementedError


@overload(act_tanh)
def _act_tanh(x):
    if isinstance(x, numba.types.Float) and x.bitwidth == 32:
        return lambda x: tanh32(x)
    return lambda x: math.tanh(x)  # float64: exact, so the finite-difference checks see the same numbers


def act_sigmoid(x):  # as act_tanh
    raise NotImplementedError


@overload(act_sigmoid)
def _act_sigmoid(x):
    if isinstance(x, numba.types.Float) and x.bitwidth == 32:
        return lambda x: sigmoid32(x)
    return lambda x: 0.5 + 0.5 * math.tanh(0.5 * x)  # float64: the sigmoid plugin's formula


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)
def lstm_forward_steps(WbU, XH, D, gates, g, c, psi_c, h_last):  # pragma: no cover (compiled)
    S, T, B = XH.shape[0], XH.shape[1] - 1, XH.shape[2]
    H = WbU.shape[2] // 4
    z = np.empty((B, 4 * H), XH.dtype)  # [z_i, z_f, z_o, z_g] side by side
    h = np.empty((B, H), XH.dtype)
    for s in range(S):  # member by member, each exactly as a solo run
        for t in range(T):
            # z = [x_t, 1, h_{t-1}] [W; b; U]: one product of 4H columns (the kernel 0.92x its time
            # with one per block, NOTES session 10; each column's sum is the same, so the bits too)
            mm(XH[s, t], WbU[s], z, 0.0)
            for b in range(B):
                for k in range(H):
                    i = act_sigmoid(z[b, k])
                    f = act_sigmoid(z[b, H + k])
                    o = act_sigmoid(z[b, 2 * H + k])
                    gg = act_tanh(z[b, 3 * H + k])
                    cc = f * c[t, s, b, k] + i * gg
                    pc = act_tanh(cc)
                    gates[t, s, 0, b, k] = i
                    gates[t, s, 1, b, k] = f
                    gates[t, s, 2, b, k] = o
                    g[t, s, b, k] = gg
                    c[t + 1, s, b, k] = cc
                    psi_c[t, s, b, k] = pc
                    h[b, k] = o * pc
            XH[s, t + 1, :, D + 1 :] = h  # a local h first: stores into XH would keep the loop scalar
        h_last[s] = h


gemm.track(lstm_forward_steps)  # its cached code holds a copy of gemm.py's
