"""Verdict stability: do the claim verdicts survive other seeds and other float rounding?

    python benchmarks/verdict_stability.py                       # all built-in studies
    python benchmarks/verdict_stability.py --study lstm_gates    # one (repeatable)
    python benchmarks/verdict_stability.py my_study.toml         # study files
    python benchmarks/verdict_stability.py --seeds-shift 1000 --variants seeds,numpy

Runs every study once as shipped (the reference), then under each variant, each in its own
process with a fresh store:

    seeds     the same study with every seed shifted by --seeds-shift (default 1000)
    numpy     NPY_DISABLE_CPU_FEATURES=X86_V3: numpy's SIMD loops without AVX2/FMA
    openblas  OPENBLAS_CORETYPE=Sandybridge: another OpenBLAS kernel for the matmuls

and prints every check and study verdict that moved. A move between "holds" and "does not
hold" is a failure (exit 1); a move to or from "inconclusive" is allowed and printed.

The OpenBLAS variant belongs here only: on some processors the machines set OPENBLAS_CORETYPE
(and OPENBLAS_L2_SIZE) because older OpenBLAS builds compute wrong results there, so tests
and CI never change either. Run by hand, like the other benchmarks; it takes as long as
`ablab claims` once per variant.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ablab.core.lab.seed_shift import FLIP as _FLIP

FLIP = {_FLIP}  # a move between holds and does not hold (ablab.core.lab.seed_shift)
VARIANTS = {
    "seeds": {},
    "numpy": {"NPY_DISABLE_CPU_FEATURES": "X86_V3"},
    "openblas": {"OPENBLAS_CORETYPE": "Sandybridge"},
}


def study_files(args, workdir: Path) -> list[Path]:
    import tomllib

    from ablab.studies import builtin_study_paths

    paths = [Path(f) for f in args.files] or builtin_study_paths()
    if args.study:
        named = {tomllib.loads(p.read_text())["study"]["name"]: p for p in paths}
        unknown = [s for s in args.study if s not in named]
        if unknown:
            sys.exit(f"--study: unknown {', '.join(unknown)}; studies: {', '.join(named)}")
        paths = [named[s] for s in args.study]
    return paths


def shifted(paths: list[Path], shift: int, workdir: Path) -> list[Path]:
    """Copies of the study files with every seed shifted (same study names: each variant has its own store)."""
    import tomllib

    from ablab.core.lab.seed_shift import shifted_text

    out = []
    for path in paths:
        copy = workdir / f"shifted_{path.name}"
        copy.write_text(shifted_text(tomllib.loads(path.read_text()), shift, rename=False))
        out.append(copy)
    return out


def judge(paths: list[Path], env_extra: dict, store: Path, workers: int) -> tuple[list[dict], float]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **env_extra}
    command = [sys.executable, "-m", "ablab.core.cli.main", "claims", *map(str, paths)]
    command += ["--store", f"sqlite:///{store}", "--workers", str(workers), "--json"]
    started = time.time()
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    if run.returncode not in (0, 1):
        sys.exit(f"ablab claims failed ({run.returncode}) under {env_extra or 'the reference'}:\n{run.stderr}")
    return json.loads(run.stdout), time.time() - started


def moves(reference: list[dict], other: list[dict]) -> list[tuple[str, str, str, str]]:
    """(study, what, from, to) for every verdict that moved; what '' is the study's verdict."""
    out = []
    for ref, new in zip(reference, other):
        if ref["verdict"] != new["verdict"]:
            out.append((ref["study"], "", ref["verdict"], new["verdict"]))
        for a, b in zip(ref["checks"], new["checks"]):
            if a["verdict"] != b["verdict"]:
                out.append((ref["study"], a["what"], a["verdict"], b["verdict"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="study files (default: the built-in claim studies)")
    parser.add_argument("--study", action="append", help="only this study (by name; repeatable)")
    parser.add_argument("--seeds-shift", type=int, default=1000, help="added to every seed (default 1000)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)} (default: all)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes per run (default 2)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")

    with tempfile.TemporaryDirectory(prefix="ablab-stability-") as tmp:
        workdir = Path(tmp)
        paths = study_files(args, workdir)
        reference, seconds = judge(paths, {}, workdir / "reference.sqlite", args.workers)
        print(f"reference: {len(reference)} studies in {seconds:.0f} s")
        for v in reference:
            print(f"  {v['verdict']:>13}  {v['study']}")
        failures = 0
        for variant in variants:
            env = VARIANTS[variant]
            run_paths = shifted(paths, args.seeds_shift, workdir) if variant == "seeds" else paths
            result, seconds = judge(run_paths, env, workdir / f"{variant}.sqlite", args.workers)
            what = f"seeds + {args.seeds_shift}" if variant == "seeds" else " ".join(f"{k}={v}" for k, v in env.items())
            moved = moves(reference, result)
            print(f"{variant} ({what}): {len(moved)} verdicts moved ({seconds:.0f} s)")
            for study, check, before, after in moved:
                flip = frozenset((before, after)) in FLIP
                failures += flip
                mark = "FLIP" if flip else "moved"
                print(f"  {mark:5} {study}{': ' + check if check else ' (study verdict)'}: {before} -> {after}")
    if failures:
        print(f"FAILED: {failures} verdicts flipped between holds and does not hold")
        return 1
    print("stable: no verdict flipped between holds and does not hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
