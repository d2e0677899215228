"""The benchmark scripts' command lines (their timings are never asserted)."""

import subprocess
import sys
from pathlib import Path

from radius_study import radius_study

ENGINE = Path(__file__).resolve().parents[1] / "benchmarks" / "engine.py"


def test_engine_benchmark_names_the_cells_it_accepts():
    run = subprocess.run([sys.executable, str(ENGINE), "--cells", "lstm,mgu"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "--cells: unknown mgu; choose from lstm, gru, rnn" in run.stderr


DW_GEMM = Path(__file__).resolve().parents[1] / "benchmarks" / "lstm_dw_gemm.py"


def test_dw_gemm_benchmark_refuses_one_round_and_runs_two():
    bad = subprocess.run([sys.executable, str(DW_GEMM), "--repeats", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--repeats must be at least 2, got 1" in bad.stderr
    run = subprocess.run([sys.executable, str(DW_GEMM), "--repeats", "2"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "one per layer" in run.stdout and "GF/s" in run.stdout
    assert "S1: old" in run.stdout and "S2: old" in run.stdout and "new/old" in run.stdout


STORE = Path(__file__).resolve().parents[1] / "benchmarks" / "store_aggregates.py"


def test_store_benchmark_refuses_bad_sizes_and_runs_a_small_one():
    bad = subprocess.run([sys.executable, str(STORE), "--runs", "2000,lots"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--runs takes whole numbers" in bad.stderr
    small = subprocess.run([sys.executable, str(STORE), "--runs", "40"], capture_output=True, text=True)
    assert small.returncode == 0, small.stderr
    assert "40 runs  write" in small.stdout and "(600 rows)" in small.stdout  # 20 configurations x 30 steps


VERDICTS = Path(__file__).resolve().parents[1] / "benchmarks" / "verdicts_load.py"


def test_verdicts_benchmark_refuses_bad_arguments_and_runs_a_small_one(tmp_path):
    for args, message in (
        (["--runs", "many"], "--runs takes whole numbers"),
        (["--runs", "10"], "between 20 and 1,000,000"),
        (["--rounds", "0"], "--rounds must be at least 1, got 0"),
        (["--keep", str(tmp_path / "nowhere")], "no such folder"),
    ):
        bad = subprocess.run([sys.executable, str(VERDICTS), *args], capture_output=True, text=True)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
    small = subprocess.run(
        [sys.executable, str(VERDICTS), "--runs", "40", "--rounds", "1", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert small.returncode == 0, small.stderr
    assert "40 runs written" in small.stdout and "same verdict: yes" in small.stdout
    assert small.stdout.count("x") >= 5 and "Runs page (a configuration)" in small.stdout
    assert (tmp_path / "verdicts_40.sqlite").exists()  # kept for the next run to reuse


STABILITY = Path(__file__).resolve().parents[1] / "benchmarks" / "verdict_stability.py"
SMALL_STUDY = radius_study("stability_tiny", seeds=4)


def test_verdict_stability_harness_on_a_small_study(tmp_path):
    study = tmp_path / "tiny.toml"
    study.write_text(SMALL_STUDY)
    run = subprocess.run(
        [sys.executable, str(STABILITY), str(study), "--variants", "seeds,numpy", "--seeds-shift", "1000"]
        + ["--workers", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reference: 1 studies" in run.stdout and "holds  stability_tiny" in run.stdout
    assert "seeds (seeds + 1000): 0 verdicts moved" in run.stdout
    assert "numpy (NPY_DISABLE_CPU_FEATURES=X86_V3): 0 verdicts moved" in run.stdout
    assert "stable: no verdict flipped" in run.stdout


def test_verdict_stability_counts_a_flip_as_a_failure_and_inconclusive_as_a_move():
    import importlib.util

    spec = importlib.util.spec_from_file_location("verdict_stability", STABILITY)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    ref = [{"study": "s", "verdict": "holds", "checks": [{"what": "a", "verdict": "holds"}]}]
    flipped = [{"study": "s", "verdict": "does not hold", "checks": [{"what": "a", "verdict": "does not hold"}]}]
    open_ = [{"study": "s", "verdict": "inconclusive", "checks": [{"what": "a", "verdict": "inconclusive"}]}]
    assert harness.moves(ref, flipped) == [("s", "", "holds", "does not hold"), ("s", "a", "holds", "does not hold")]
    assert all(frozenset(m[2:]) not in harness.FLIP for m in harness.moves(ref, open_))
    assert all(frozenset(m[2:]) in harness.FLIP for m in harness.moves(ref, flipped))


DASHBOARD = Path(__file__).resolve().parents[1] / "benchmarks" / "dashboard_load.py"


def test_dashboard_benchmark_names_bad_sizes_and_backends():
    bad = subprocess.run([sys.executable, str(DASHBOARD), "--runs", "2000,lots"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--runs takes comma-separated whole numbers" in bad.stderr
    bad = subprocess.run([sys.executable, str(DASHBOARD), "--backends", "sqlite,mysql"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--backends: unknown 'mysql'; choose from sqlite, postgresql" in bad.stderr


ESTIMATE = Path(__file__).resolve().parents[1] / "benchmarks" / "run_estimate.py"


def test_estimate_benchmark_refuses_bad_arguments_and_times_a_small_study():
    for args, message in (
        (["--only", "three-cells,huge"], "--only: unknown huge; choose from three-cells, mission, plugin-cell"),
        (["--scale", "0"], "--scale must be above 0 and at most 10, got 0"),
    ):
        bad = subprocess.run([sys.executable, str(ESTIMATE), *args], capture_output=True, text=True)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
    small = subprocess.run(
        [sys.executable, str(ESTIMATE), "--only", "three-cells", "--scale", "0.01"], capture_output=True, text=True
    )
    assert small.returncode == 0, small.stderr
    (row,) = [line.split() for line in small.stdout.splitlines() if line.startswith("three-cells")]
    assert row[1:3] == ["3", "9"] and float(row[3]) > 0 and float(row[5]) > 0  # estimate and real seconds


BLAS_WIDTH = Path(__file__).resolve().parents[1] / "benchmarks" / "lstm_blas_width.py"


def test_blas_width_benchmark_refuses_one_round_and_prints_both_sides():
    bad = subprocess.run([sys.executable, str(BLAS_WIDTH), "--repeats", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--repeats must be at least 2, got 1" in bad.stderr
    run = subprocess.run(
        [sys.executable, str(BLAS_WIDTH), "--repeats", "2", "--processes", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "np.dot (OpenBLAS)" in run.stdout and "gemm.mm (" in run.stdout
    assert "256-bit vectors" in run.stdout and "512-bit vectors" in run.stdout and "512 / 256" in run.stdout
    from ablab.core.engine import jit

    if jit.host_wide_settings():  # an AVX-512 CPU: the 512-bit processes really got 512-bit settings
        assert "no AVX-512F" not in run.stdout
