"""The benchmark scripts' command lines (their timings are never asserted)."""

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "benchmarks" / "engine.py"


def test_engine_benchmark_names_the_cells_it_accepts():
    run = subprocess.run([sys.executable, str(ENGINE), "--cells", "lstm,mgu"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "--cells: unknown mgu; choose from lstm, gru, rnn" in run.stderr


STORE = Path(__file__).resolve().parents[1] / "benchmarks" / "store_aggregates.py"


def test_store_benchmark_refuses_bad_sizes_and_runs_a_small_one():
    bad = subprocess.run([sys.executable, str(STORE), "--runs", "2000,lots"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--runs takes whole numbers" in bad.stderr
    small = subprocess.run([sys.executable, str(STORE), "--runs", "40"], capture_output=True, text=True)
    assert small.returncode == 0, small.stderr
    assert "40 runs  write" in small.stdout and "(600 rows)" in small.stdout  # 20 configurations x 30 steps
