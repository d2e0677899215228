"""The benchmark scripts' command lines (their timings are never asserted)."""

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "benchmarks" / "engine.py"


def test_engine_benchmark_names_the_cells_it_accepts():
    run = subprocess.run([sys.executable, str(ENGINE), "--cells", "lstm,mgu"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "--cells: unknown mgu; choose from lstm, gru, rnn" in run.stderr
