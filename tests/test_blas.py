"""The compiled kernels' BLAS (core/engine/blas.py, gemm.py) and numba's vector width
(core/engine/jit.py): the products are right on either backend, the same bits at every
alignment (members of an ensemble sit at other addresses than a solo run's arrays), and the
choices a user makes through the environment are validated."""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from ablab.core.engine import blas, jit
from ablab.core.engine.gemm import mm, mm_tn

SHAPES = [(32, 137, 128), (32, 128, 128), (1, 5, 3), (4, 1, 7), (7, 9, 1), (3, 0, 2), (0, 4, 4)]


def run_python(code: str, **env) -> str:
    """stdout of a fresh interpreter (each process binds its BLAS and numba's width once)."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise AssertionError(done.stderr[-3000:])
    return done.stdout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("transposed", [False, True], ids=["mm", "mm_tn"])
def test_mm_and_mm_tn_compute_the_product_plus_beta_out(dtype, m, k, n, beta, transposed):
    rng = np.random.default_rng(m * 100 + k + transposed)
    a = rng.standard_normal((k, m) if transposed else (m, k)).astype(dtype)
    b, out = rng.standard_normal((k, n)).astype(dtype), rng.standard_normal((m, n)).astype(dtype)
    want = (a.T if transposed else a).astype(np.float64) @ b + beta * out
    (mm_tn if transposed else mm)(a, b, out, beta)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol * max(1, k))


def test_mm_reads_row_strided_slices_of_wider_arrays():
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((3, 140, 300)).astype(np.float32)
    a, b = wide[1, :32, 10:147], wide[2, :137, 5:133]  # rows 300 floats apart
    out = np.zeros((48, 200), np.float32)[4:36, 7:135]
    mm(a, b, out, 0.0)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-4)
    at = wide[0, :137, 20:52]  # (137 x 32): mm_tn reads it as its transpose
    mm_tn(at, b, out, 0.0)
    np.testing.assert_allclose(out, at.T.astype(np.float64) @ b, rtol=1e-5, atol=1e-4)


def test_mm_refuses_operands_whose_rows_are_not_contiguous_or_whose_shapes_differ():
    a = np.ones((4, 6), np.float32)
    with pytest.raises(ValueError, match="contiguous rows"):
        mm(a[:, ::2], np.ones((3, 2), np.float32), np.empty((4, 2), np.float32), 0.0)
    with pytest.raises(ValueError, match="shapes do not match"):
        mm(a, np.ones((5, 2), np.float32), np.empty((4, 2), np.float32), 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mm_gives_the_same_bits_at_every_alignment(dtype):
    """An ensemble member's operands are slices of the ensemble's arrays, a solo run's are
    arrays of their own: the products must not depend on where the data starts (member == solo
    exactly, test_training.py, relies on it at this size too)."""
    rng = np.random.default_rng(1)
    for m, k, n in [(32, 137, 128), (32, 128, 128)]:
        a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
        results, results_tn = [], []
        for offset in range(17):
            a_at = np.empty(m * k + offset, dtype)[offset:].reshape(m, k)
            b_at = np.empty(k * n + offset + 3, dtype)[offset + 3 :].reshape(k, n)
            at_at = np.empty(m * k + offset + 5, dtype)[offset + 5 :].reshape(k, m)
            out = np.empty(m * n + offset, dtype)[offset:].reshape(m, n)
            a_at[...], b_at[...], at_at[...] = a, b, a.T
            mm(a_at, b_at, out, 0.0)
            results.append(out.copy())
            mm_tn(at_at, b_at, out, 0.0)  # the per-step dW of FusedCell promise 8
            results_tn.append(out.copy())
        for r, r_tn in zip(results[1:], results_tn[1:]):
            np.testing.assert_array_equal(r, results[0])
            np.testing.assert_array_equal(r_tn, results_tn[0])


def test_the_mkl_package_is_what_the_kernels_call_where_it_is_installed():
    """pyproject.toml installs `mkl` on x86-64 Linux and Windows; there the kernels must bind it
    (a silent fall back to OpenBLAS would cost the LSTM ~20% of its step)."""
    backend = blas.register()
    if blas.mkl_library_path() is None:
        if os.environ.get("CI") == "true" and platform.machine() in ("x86_64", "AMD64"):
            pytest.fail("CI=true on x86-64: the `mkl` package should be installed (pyproject.toml)")
        pytest.skip("the `mkl` package is not installed here")
    if os.environ.get("ABLAB_BLAS", "").strip().lower() == "openblas":
        assert backend.name == "openblas"
    else:
        assert backend == blas.Backend("mkl", blas.mkl_library_path()), backend


def test_ablab_blas_chooses_the_backend_and_refuses_other_values():
    say = "from ablab.core.engine import blas; print(blas.register().name)"
    assert run_python(say, ABLAB_BLAS="openblas").strip() == "openblas"
    with pytest.raises(AssertionError, match=r"ABLAB_BLAS='fast' is not one of mkl, openblas"):
        run_python(say, ABLAB_BLAS="fast")
    if blas.mkl_library_path() is not None:
        assert run_python(say, ABLAB_BLAS="MKL").strip() == "mkl"


def test_ablab_blas_mkl_is_an_error_where_mkl_is_missing(monkeypatch):
    monkeypatch.setattr(blas, "mkl_library_path", lambda: None)
    monkeypatch.setenv("ABLAB_BLAS", "mkl")
    with pytest.raises(blas.BlasError, match="`mkl` package is not installed"):
        blas.choose()
    monkeypatch.delenv("ABLAB_BLAS")
    assert blas.choose()[0] == blas.Backend("openblas", "the `mkl` package is not installed")


def test_an_mkl_that_does_not_load_falls_back_to_openblas_unless_asked_for(monkeypatch, tmp_path):
    broken = tmp_path / "libmkl_rt.so.3"
    broken.write_text("not a library")
    for name in ("libmkl_core.so.3", "libmkl_sequential.so.3", "libmkl_intel_lp64.so.3"):
        (tmp_path / name).write_text("")
    monkeypatch.setattr(blas, "mkl_library_path", lambda: str(broken))
    backend, _ = blas.choose()
    assert backend.name == "openblas" and backend.detail.startswith("MKL did not load")
    monkeypatch.setenv("ABLAB_BLAS", "mkl")
    with pytest.raises(blas.BlasError, match="ABLAB_BLAS=mkl, but MKL did not load"):
        blas.choose()


def test_ablab_numba_width_refuses_other_values():
    with pytest.raises(AssertionError, match=r"ABLAB_NUMBA_WIDTH='wide' is not one of 256, 512"):
        run_python("import ablab.core.engine.jit", ABLAB_NUMBA_WIDTH="wide")


def test_numba_width_settings_respect_the_user_a_256_request_and_another_cpu(monkeypatch):
    wide = {"NUMBA_CPU_NAME": "cpu", "NUMBA_CPU_FEATURES": "+avx512f,-prefer-256-bit"}
    monkeypatch.setattr(jit, "host_wide_settings", lambda: dict(wide))
    env = {}
    jit.configure(env, numba_imported=False)
    assert {k: env[k] for k in wide} == wide and jit.MARK in env
    inherited = dict(env)
    jit.configure(env, numba_imported=False)  # a child process on the same CPU: kept
    assert env == inherited
    half = {jit.MARK: env[jit.MARK]}  # the mark without its values (a launcher kept only some)
    jit.configure(half, numba_imported=False)
    assert half == inherited
    child = {**env, "ABLAB_NUMBA_WIDTH": "256"}
    jit.configure(child, numba_imported=False)
    assert child == {"ABLAB_NUMBA_WIDTH": "256"}
    other_cpu = {**env, "NUMBA_CPU_NAME": "skylake-avx512"}  # copied to a node with another CPU
    monkeypatch.setattr(jit, "host_wide_settings", dict)  # ... which has no AVX-512F
    jit.configure(other_cpu, numba_imported=False)
    assert other_cpu == {}
    users = {"NUMBA_CPU_FEATURES": "+avx2"}  # the user's own: no mark
    monkeypatch.setattr(jit, "host_wide_settings", lambda: dict(wide))
    jit.configure(users, numba_imported=False)
    assert users == {"NUMBA_CPU_FEATURES": "+avx2"}
    late = {}
    jit.configure(late, numba_imported=True)  # numba has read its settings already
    assert late == {}


def test_a_partial_mkl_install_falls_back_to_openblas(monkeypatch, tmp_path):
    (tmp_path / "libmkl_rt.so.3").write_bytes(b"")  # MKL would exit() at the first product
    monkeypatch.setattr(blas, "mkl_library_path", lambda: str(tmp_path / "libmkl_rt.so.3"))
    backend, _ = blas.choose()
    assert backend.name == "openblas" and "no libmkl_core.so* beside libmkl_rt.so.3" in backend.detail


TRAIN = """
import json, numpy as np
from ablab.core.engine.model import RecurrentNet, RecurrentSpec
from ablab.core.engine.train import loss_and_grads
from ablab.core.engine.losses import mse
from ablab.core.plugin_system.registry import build_registry
from ablab.core.engine import blas, jit
net = RecurrentNet(RecurrentSpec(n_in=3, n_out=1, hidden=48, cell="lstm"), build_registry(entry_points=False))
params = net.init([0, 1])
rng = np.random.default_rng(5)
x = rng.normal(size=(2, 30, 16, 3)).astype(np.float32)
y = rng.normal(size=(2, 16, 1)).astype(np.float32)
_, loss, grads = loss_and_grads(net, params, x, y, None, mse, None)
import numba
print(json.dumps({"blas": blas.register().name, "features": numba.config.CPU_FEATURES, "loss": loss.tolist(),
                  "grads": {k: v.ravel().tolist() for k, v in sorted(grads.items())}}))
"""


def test_the_lstm_kernels_agree_on_both_backends_and_at_both_vector_widths():
    """A float32 LSTM training step: OpenBLAS and MKL agree to float32 rounding; numba's
    256- and 512-bit vectors give the same bits (elementwise loops, no reassociation)."""
    default = json.loads(run_python(TRAIN))
    narrow = json.loads(run_python(TRAIN, ABLAB_NUMBA_WIDTH="256"))
    openblas = json.loads(run_python(TRAIN, ABLAB_BLAS="openblas"))
    assert openblas["blas"] == "openblas"
    if jit.host_wide_settings():  # an AVX-512 CPU: the two runs really differ in width
        assert default["features"].endswith(",-prefer-256-bit") and narrow["features"] is None
    assert narrow["loss"] == default["loss"] and narrow["grads"] == default["grads"]
    np.testing.assert_allclose(openblas["loss"], default["loss"], rtol=1e-5)
    for key, values in default["grads"].items():
        scale = np.abs(values).max()
        np.testing.assert_allclose(openblas["grads"][key], values, rtol=0, atol=1e-4 * scale, err_msg=key)


def test_track_drops_a_cached_kernel_compiled_against_another_gemm(tmp_path):
    """numba would load a kernel compiled against an older gemm.py (its stamp is the kernel's
    own file); track() makes the next process compile it again, and only then."""
    (tmp_path / "kernel_module.py").write_text(
        "from ablab.core.engine.jit import numba\n\n\n@numba.njit(cache=True)\ndef kernel(x):\n    return x + 1\n"
    )
    run = "import sys; sys.path.insert(0, {!r}); import kernel_module; from ablab.core.engine import gemm\n"
    run += "gemm.track(kernel_module.kernel, stamp={!r}); print(kernel_module.kernel(1))"

    def loaded(stamp: str) -> bool:
        out = run_python(run.format(str(tmp_path), stamp), NUMBA_DEBUG_CACHE="1")
        assert out.strip().endswith("2")
        return "data loaded" in out

    assert not loaded("one")  # compiled and saved
    assert loaded("one")  # the same gemm: from the cache
    assert not loaded("two")  # gemm changed: compiled again
    assert loaded("two")


@pytest.mark.parametrize("dtypes", [(np.float32, np.float32, np.float64), (np.float64, np.float32, np.float64)])
def test_mm_refuses_mixed_dtypes_when_compiling(dtypes):
    import numba

    a, b, out = (np.ones(shape, dt) for shape, dt in zip([(2, 3), (3, 2), (2, 2)], dtypes))
    with pytest.raises(numba.core.errors.TypingError, match="must all be float32 or all float64"):
        mm(a, b, out, 0.0)


def test_mm_refuses_overlapping_rows():
    row = np.arange(5, dtype=np.float32)
    for a in (np.broadcast_to(row, (4, 5)), np.lib.stride_tricks.sliding_window_view(np.ones(10, np.float32), 5)[:6]):
        with pytest.raises(ValueError, match="rows must not overlap"):
            mm(a, np.ones((5, 2), np.float32), np.empty((a.shape[0], 2), np.float32), 0.0)


def test_an_empty_sum_with_beta_0_clears_nan():
    out = np.full((2, 3), np.nan, np.float32)
    mm(np.ones((2, 0), np.float32), np.ones((0, 3), np.float32), out, 0.0)
    assert np.array_equal(out, np.zeros((2, 3), np.float32))
    mm_tn(np.ones((0, 2), np.float32), np.ones((0, 3), np.float32), out, 0.0)
    assert np.array_equal(out, np.zeros((2, 3), np.float32))
