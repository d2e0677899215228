"""Claims: a study's [[checks]] judged into a verdict. The machinery lives in
ablab.core.lab.verdicts (quantities, statistics, checks, verdict); this module keeps the
names older code imports."""

from ablab.core.lab.verdicts import (
    CHECK_KEYS,
    CheckResult,
    Verdict,
    quantity_values,
    stored_verdict,
    study_verdict,
    validate_check,
    verdict,
    verdict_frame,
)

__all__ = [
    "CHECK_KEYS",
    "CheckResult",
    "Verdict",
    "quantity_values",
    "stored_verdict",
    "study_verdict",
    "validate_check",
    "verdict",
    "verdict_frame",
]
