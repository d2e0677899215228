"""New seeds for a study: the same study with every seed shifted, under its own name.

A verdict rests on the seeds its runs used; rerunning the same seeds recomputes the same
numbers. Shifting every seed (0-19 -> 1000-1019) asks whether the verdict survives other
draws of the data and the initialisation. `ablab claims --new-seeds`, the Claims page's "Run
with new seeds" and benchmarks/verdict_stability.py share this module.

A move between "holds" and "does not hold" is a flip (a failure); a move to or from
"inconclusive" or "not run" is allowed and reported.
"""

from __future__ import annotations

from ablab.core.errors import ConfigError
from ablab.core.lab.names import MAX_LENGTH, check_study_name

DEFAULT_SHIFT = 1000
MAX_SHIFT = 10**9  # keeps every shifted seed far below the stores' 2**63 limit
FLIP = frozenset(("holds", "does not hold"))


def check_shift(shift: object) -> int:
    """Return shift if it is a whole number in [1, MAX_SHIFT]; raise ConfigError saying so."""
    if isinstance(shift, bool) or not isinstance(shift, int) or not 1 <= shift <= MAX_SHIFT:
        raise ConfigError(f"a seed shift must be a whole number from 1 to {MAX_SHIFT}, got {str(shift)[:40]!r}")
    return shift


def shifted_name(name: str, shift: int) -> str:
    """The shifted study's stored name, e.g. clipping-s1000 (cut to fit the name rule)."""
    suffix = f"-s{check_shift(shift)}"
    return check_study_name(name[: MAX_LENGTH - len(suffix)] + suffix)


def shifted_data(data: dict, shift: int, rename: bool = True) -> dict:
    """A study file's parsed TOML with every seed shifted by `shift` (a copy); rename: under
    shifted_name, so its runs sit beside the original's instead of replacing them."""
    check_shift(shift)
    study = dict(data["study"])
    seeds = study.get("seeds", [0])
    if isinstance(seeds, dict):  # seeds by need: the plan starts at another first seed
        study["seeds"] = {**seeds, "first": seeds.get("first", 0) + shift}
    else:
        seeds = list(range(seeds)) if isinstance(seeds, int) else seeds
        study["seeds"] = [s + shift for s in seeds]
    if rename:
        study["name"] = shifted_name(study["name"], shift)
    return {**data, "study": study}


def shifted_text(data: dict, shift: int, rename: bool = True) -> str:
    import tomli_w

    return tomli_w.dumps(shifted_data(data, shift, rename))


def seeds_text(seeds: list[int]) -> str:
    """0-19, or 0-2, 5, 9: consecutive seeds as ranges."""
    if not seeds:
        return "none"
    parts, start, prev = [], seeds[0], seeds[0]
    for s in [*seeds[1:], None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if s is not None:
            start = prev = s
    return ", ".join(parts)


def stability_line(
    before: str, seeds_before: list[int], after: str, seeds_after: list[int], checks: list[tuple[str, str]] = ()
) -> str:
    """One line: does a verdict (label) survive the new seeds? checks: each check's (before,
    after) labels, so a study verdict that stayed while its checks moved says so."""
    a, b = seeds_text(seeds_before), seeds_text(seeds_after)
    if "not run" in (before, after):
        sides = (("the original seeds", before), ("the new seeds", after))
        missing = " and ".join(w for w, label in sides if label == "not run")
        return f"nothing to compare yet: {missing} not run"
    moved = [pair for pair in checks if pair[0] != pair[1]]
    flips = sum(flipped(*pair) for pair in moved)
    of_checks = ""
    if moved:
        of_checks = f"; {len(moved)} of {len(checks)} checks moved" + (
            f", {flips} FLIPPED" if flips else " (none flipped)"
        )
    if before == after:
        return f"{before} on seeds {a} and {b}{of_checks}"
    word = "FLIPPED" if flipped(before, after) else "moved"
    return f"{word}: {before} -> {after} (seeds {a} -> {b}){of_checks}"


def flipped(before: str, after: str) -> bool:
    return frozenset((before, after)) == FLIP


def shifted_study(data: dict, shift: int, source: str, registry):
    """The Study `data` describes (a study file's TOML, or the spec a store keeps) with every
    seed shifted, under shifted_name: validated as any study file is."""
    from ablab.core.lab.study import parse_study

    return parse_study(shifted_text(data, shift), f"{source} (seeds + {shift})", registry)
