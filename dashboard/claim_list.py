"""The Claims page's list: every built-in claim and every stored study with checks, and the
studies run with new seeds, which show under their claim instead of as claims of their own."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ablab.core.lab.seed_shift import MAX_SHIFT, shifted_name
from ablab.core.lab.study import load_study, planned_looks

SHIFTED = re.compile(r"^(?P<base>.+)-s(?P<shift>[0-9]+)$")  # seed_shift.shifted_name's form


@dataclass
class Claim:
    name: str
    claim: str
    description: str
    checks: list
    solve: dict | None
    path: object  # the built-in study's file, which the run buttons launch; None for a stored study
    data: dict  # the study's TOML: the new-seeds copy is made from it
    looks: int  # a seed plan's looks: the verdict splits its error rate over them, as `ablab claims` does


def claims_and_shifts(store, registry) -> tuple[list[Claim], dict[str, list[tuple[int, str]]]]:
    """The claims to list, and for each claim name its stored new-seed runs as (shift, name),
    smallest shift first."""
    from ablab.studies import builtin_study_paths

    claims = [
        Claim(s.name, s.claim, s.description, s.checks, s.solve, path, s.data, s.looks)
        for s, path in ((load_study(path, registry), path) for path in builtin_study_paths())
    ]
    builtin = {c.name for c in claims}
    for stored in store.studies():
        spec = store.study_spec(stored["name"]) if stored["name"] not in builtin else None
        if spec and spec.get("checks"):
            meta = spec.get("study", {})
            claims.append(
                Claim(
                    stored["name"],
                    meta.get("claim") or stored["name"],
                    meta.get("description", ""),
                    spec["checks"],
                    meta.get("solve"),
                    None,
                    spec,
                    planned_looks(meta.get("seeds")),
                )
            )
    shifts = stored_shifts({c.name: c.checks for c in claims})
    shifted = {name for runs in shifts.values() for _, name in runs}
    return [c for c in claims if c.name not in shifted], shifts


def stored_shifts(checks_of: dict[str, list]) -> dict[str, list[tuple[int, str]]]:
    """Which of these studies are another one run with new seeds: named as seed_shift names it
    (NAME-sSHIFT, NAME cut when the whole would pass the name rule's length) after a study of
    the list, with the same checks (a user's own `foo-s2` with other checks is a claim)."""
    found: dict[str, list[tuple[int, str]]] = {}
    for name, checks in checks_of.items():
        m = SHIFTED.match(name)
        if not m or int(m["shift"]) == 0 or int(m["shift"]) > MAX_SHIFT:
            continue
        shift = int(m["shift"])
        bases = [b for b in checks_of if b != name and b.startswith(m["base"]) and shifted_name(b, shift) == name]
        base = next((b for b in bases if checks_of[b] == checks), None)
        if base is not None:
            found.setdefault(base, []).append((shift, name))
    return {base: sorted(runs) for base, runs in found.items()}
