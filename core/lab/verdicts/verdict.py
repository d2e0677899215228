"""A study's verdict: its checks judged together, with Holm's correction for multiplicity.

Holm (1979) on intervals: with m checks, every check is first judged with a two-sided
interval at confidence 1 - 0.05/m. Each check that resolves (its interval wholly on one side
of its threshold) is settled at that level; with k settled, the rest are judged again at
1 - 0.05/(m - k), until no further check resolves. A check's text shows the interval at the
level that settled it, or, for an inconclusive check, at the last level tried. This is Holm's
step-down procedure applied to the two-sided p-value of each check's threshold, so the chance
that any check of a study resolves the wrong way stays at most 5%.

The study holds when every check holds, does not hold when any check does not hold, and is
inconclusive otherwise.

Seeds by need: a study with seeds = { start = 10, add = 5, max = 40 } runs 10 seeds, is
judged, and gets 5 more at a time until every check resolves or 40 ran (run_by_need). Each
look at the data is a chance to resolve a check the wrong way, so every look is judged at
ALPHA / (number of planned looks): a Bonferroni split of the error rate over the looks (the
simplest alpha-spending rule), which holds whatever the stopping rule does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ablab.core.errors import AblabError
from ablab.core.lab.verdicts.checks import Outcome, prepare
from ablab.core.lab.verdicts.quantities import verdict_frame

ALPHA = 0.05  # family-wise: a study's checks together


@dataclass
class CheckResult:
    what: str
    holds: bool | None  # None: inconclusive
    effect: float
    low: float
    high: float
    n: int
    confidence: float  # of the interval shown, after Holm's correction
    text: str
    left_out: dict[str, int] = field(default_factory=dict)
    not_run: bool = False  # no runs stored: nothing measured, which is not "inconclusive"

    @property
    def label(self) -> str:
        return "not run" if self.not_run else {True: "holds", False: "does not hold", None: "inconclusive"}[self.holds]

    # the point effect and its threshold, as older callers read them
    @property
    def left(self) -> float:
        return self.effect


@dataclass
class Verdict:
    study: str
    claim: str
    holds: bool | None
    checks: list[CheckResult]
    seeds: list[int] = field(default_factory=list)  # the seeds of the runs the verdict rests on

    @property
    def not_run(self) -> bool:
        """No run of the study is stored: its verdict is "not run" (holds stays None), apart
        from "inconclusive", which means runs were measured and more seeds may settle it."""
        return bool(self.checks) and all(c.not_run for c in self.checks)

    @property
    def label(self) -> str:
        return "not run" if self.not_run else {True: "holds", False: "does not hold", None: "inconclusive"}[self.holds]


def _interval_note(confidence: float) -> str:
    text = f"{100 * confidence:.2f}".rstrip("0").rstrip(".")
    return f"{text}% interval"


def judge(tests: list, alpha: float = ALPHA) -> list[tuple[Outcome, float]]:
    """Holm's step-down over the checks' tests: (outcome, confidence) per test."""
    m = len(tests)
    settled: dict[int, tuple[Outcome, float]] = {}
    last: dict[int, tuple[Outcome, float]] = {}
    while len(settled) < m:
        confidence = 1 - alpha / (m - len(settled))
        newly = {}
        for i, test in enumerate(tests):
            if i in settled:
                continue
            outcome = test.at(confidence)
            last[i] = (outcome, confidence)
            if outcome.holds is not None:
                newly[i] = (outcome, confidence)
        if not newly:
            break
        settled.update(newly)
    return [settled.get(i, last.get(i)) for i in range(m)]


def verdict(study_name: str, claim: str, checks: list[dict], frame: pd.DataFrame, looks: int = 1) -> Verdict:
    """Judge `checks` on `frame` (one row per run: verdict_frame, or run_frame without the
    solve columns). looks > 1: a sequential study may be judged after each of `looks` seed
    blocks, so each look gets ALPHA / looks (Bonferroni over the looks)."""
    alpha = ALPHA / looks
    if frame.empty:  # nothing stored yet: no check can be measured
        results = [
            CheckResult(
                c["what"], None, float("nan"), float("nan"), float("nan"), 0, 1 - alpha, "no runs stored", not_run=True
            )
            for c in checks
        ]
        return Verdict(study_name, claim, None, results)
    tests = [prepare(frame, c) for c in checks]
    results = []
    for check, test, (outcome, confidence) in zip(checks, tests, judge(tests, alpha)):
        text = outcome.text
        notes = [f"Holm over {len(checks)} checks"] if len(checks) > 1 else []
        notes += [f"{looks} looks"] if looks > 1 else []
        if outcome.n and notes:
            text += f" ({_interval_note(confidence)}, {', '.join(notes)})"
        results.append(
            CheckResult(
                check["what"],
                outcome.holds,
                outcome.effect,
                outcome.low,
                outcome.high,
                outcome.n,
                confidence,
                text,
                test.left_out,
            )
        )
    if not results:
        holds = None
    elif any(r.holds is False for r in results):
        holds = False
    elif any(r.holds is None for r in results):
        holds = None
    else:
        holds = True
    seeds = sorted({int(s) for s in frame["seed"]}) if "seed" in frame.columns else []
    return Verdict(study_name, claim, holds, results, seeds)


def study_verdict(study, store, registry=None) -> Verdict:
    """The verdict of a loaded Study from what the store holds for it."""
    frame = verdict_frame(store, study.name, study.solve, registry, checks=study.checks)
    return verdict(study.name, study.claim, study.checks, frame, study.looks)


def resolved(v: Verdict) -> bool:
    return bool(v.checks) and all(c.holds is not None for c in v.checks)


def run_by_need(study, registry, store, *, on_look=None, **run_options):
    """Run a study; one with seeds = { start, add, max } runs its first `start` seeds, then
    `add` more at a time until every check resolves or `max` seeds ran. Returns (the study
    with the seeds that ran, the last progress). on_look(study, progress, verdict) after each
    block of a sequential study; run_options go to run_study (workers, executor, ...)."""
    from ablab.core.lab.runner import run_study

    n = len(study.seeds)
    while True:
        current = study.with_seed_count(n) if study.blocks else study
        progress = run_study(current, registry, store, **run_options)
        run_options["rerun"] = False  # a forced re-run redoes the first block; later blocks are new seeds
        if not study.blocks or progress.interrupted:
            return current, progress
        v = study_verdict(current, store, registry)
        if on_look:
            on_look(current, progress, v)
        if resolved(v) or n >= study.blocks["max"]:
            return current, progress
        n = min(n + study.blocks["add"], study.blocks["max"])


def stored_verdict(store, name: str, registry=None) -> Verdict:
    """The verdict of any study in the store, from the checks stored with it."""
    spec = store.study_spec(name)
    if spec is None:
        names = ", ".join(s["name"] for s in store.studies()) or "none"
        raise AblabError(f"no study {name!r} in {store.display_url}; stored studies: {names}")
    from ablab.core.lab.study import planned_looks

    meta = spec.get("study", {})
    frame = verdict_frame(store, name, meta.get("solve"), registry, checks=spec.get("checks", []))
    return verdict(name, meta.get("claim", ""), spec.get("checks", []), frame, planned_looks(meta.get("seeds")))
