"""Verdicts: a study's [[checks]] judged from per-seed results with intervals.

quantities  per-run values of each quantity, `solved` / `steps_to_solve`, diverged-run exclusion
statistics  effects with intervals (scipy.stats): t, log ratio, exact binomial, Fisher, bootstrap
checks      the [[checks]] keys: validation, and one check as a test with a three-valued outcome
verdict     a study's checks with Holm's correction, the study's verdict, stored studies
"""

from ablab.core.lab.verdicts.checks import CHECK_KEYS, validate_check
from ablab.core.lab.verdicts.quantities import quantity_values, validate_solve, verdict_frame
from ablab.core.lab.verdicts.verdict import CheckResult, Verdict, stored_verdict, study_verdict, verdict

__all__ = [
    "CHECK_KEYS",
    "CheckResult",
    "Verdict",
    "quantity_values",
    "stored_verdict",
    "study_verdict",
    "validate_check",
    "validate_solve",
    "verdict",
    "verdict_frame",
]
