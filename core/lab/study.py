"""Study files: a base configuration, axes to vary, seeds and the checks that make a claim.

A study is data. It is validated completely before anything runs (unknown keys, ranges,
plugin names, every expanded configuration), and it has a stable content hash.

    [study]   name, claim, design = "grid" | "one-at-a-time", seeds = [0, 1, 2] (or 20: seeds 0..19,
              or { start = 10, add = 5, max = 40 }: blocks of seeds until every check resolves),
              solve = { metric = "accuracy", op = ">=", value = 0.95 } (what `solved` means)
    [base]    task, model, optimizer, clip, train tables; probes = [names]
    [axes]    "model.cell" = ["rnn", "lstm"]   (dotted paths into base; "a.b+c.d" = [[x, y], ...]
              varies two paths together, e.g. an activation with its matching initialiser)
    [[checks]] what must hold for the claim (see ablab.core.lab.claims)
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablab.core.engine.clipping import ClipSpec
from ablab.core.engine.net import build_net
from ablab.core.engine.optim import OptimizerSpec
from ablab.core.engine.spec import from_dict
from ablab.core.engine.train import TrainSpec
from ablab.core.errors import AblabError, ConfigError

SECTIONS = {"study", "base", "axes", "checks"}
STUDY_KEYS = {"name", "claim", "description", "design", "seeds", "expect", "solve"}
BASE_KEYS = {"task", "model", "optimizer", "clip", "train", "probes", "gradcheck"}
DESIGNS = ("grid", "one-at-a-time")


class StudyError(ConfigError):
    """A study file is invalid; the message names the file and the key path."""


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def digest(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:n]


@dataclass(frozen=True)
class RunSpec:
    """One configuration with one seed; `key` identifies its results in the store."""

    config: dict
    seed: int
    key: str
    config_key: str  # same for every seed of the configuration: one ensemble job
    point: dict  # the axis values of this configuration (dotted path -> value)


@dataclass(frozen=True)
class Study:
    name: str
    source: str
    data: dict  # the parsed file, normalised
    seeds: list[int]
    design: str
    base: dict
    axes: dict[str, list]
    checks: list[dict] = field(default_factory=list)
    claim: str = ""
    description: str = ""
    solve: dict | None = None  # the study's solve criterion; None: each task's default
    blocks: dict | None = None  # seeds = { start, add, max, first }: seeds by need

    @property
    def hash(self) -> str:
        return digest(self.data)

    @property
    def looks(self) -> int:
        """How many times the verdict may be looked at: 1, or every block of a sequential study
        (the verdict then splits its error rate over the looks)."""
        if not self.blocks:
            return 1
        return 1 + math.ceil((self.blocks["max"] - self.blocks["start"]) / self.blocks["add"])

    def with_seed_count(self, n: int) -> Study:
        """The study with its first n seeds of a sequential seed plan."""
        first = self.blocks["first"] if self.blocks else (self.seeds[0] if self.seeds else 0)
        return dataclasses.replace(self, seeds=list(range(first, first + n)))

    def points(self) -> list[dict]:
        """Axis values of each configuration, in a stable order."""
        if not self.axes:
            return [{}]
        if self.design == "grid":
            names = list(self.axes)
            return [dict(zip(names, combo)) for combo in itertools.product(*self.axes.values())]
        points, seen = [{}], {canonical({})}
        for path, values in self.axes.items():
            for value in values:
                if "+" not in path and canonical(value) == canonical(get_path(self.base, path)):
                    continue  # the base configuration itself is already there
                point = {path: value}
                if canonical(point) not in seen:
                    seen.add(canonical(point))
                    points.append(point)
        return points

    def configurations(self) -> list[tuple[dict, dict]]:
        """(axis point, resolved configuration) for every configuration."""
        out = []
        for point in self.points():
            config = copy.deepcopy(self.base)
            for path, value in point.items():
                if "+" in path:  # paths varied together
                    for part, v in zip(path.split("+"), value):
                        set_path(config, part, v)
                else:
                    set_path(config, path, value)
            out.append((point, config))
        return out

    def runs(self, registry) -> list[RunSpec]:
        out = []
        for point, config in self.configurations():
            versions = plugin_versions(config, registry)
            config_key = digest({"config": config, "versions": versions})
            for seed in self.seeds:
                out.append(
                    RunSpec(
                        config, seed, digest({"config": config, "seed": seed, "versions": versions}), config_key, point
                    )
                )
        return out


def get_path(tree: dict, path: str) -> Any:
    node = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_path(tree: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def plugin_versions(config: dict, registry) -> dict[str, str]:
    """Provider versions of the plugins a configuration uses: part of every run key, so a new
    version of a plugin makes new runs instead of mixing with old results."""
    used = [("task", config["task"]["name"])]
    model = config.get("model", {})
    if model.get("kind", "recurrent") == "recurrent":
        used.append(("cell", model.get("cell", "lstm")))
        embedding = model.get("embedding")
        if embedding is not None:
            used.append(("embedding", embedding if isinstance(embedding, str) else embedding.get("name", "")))
    used += [("probe", p) for p in config.get("probes", [])]
    return {f"{k}:{n}": registry.entry(k, n).provider + "==" + registry.entry(k, n).version for k, n in used}


# -- building the objects a run needs ----------------------------------------------------


def build(config: dict, registry):
    """(task, net, TrainSpec, probes) of a resolved configuration. Raises ConfigError."""
    task_cfg = dict(config["task"])
    if "name" not in task_cfg:
        raise ConfigError(
            'task.name is required, e.g. task = { name = "adding" }; tasks: ' + ", ".join(registry.names("task"))
        )
    task = registry.get("task", task_cfg.pop("name"))(**task_cfg)
    net = build_net(config.get("model", {}), task, registry)
    optimizer = from_dict(OptimizerSpec, config.get("optimizer", {}), "optimizer")
    clip = from_dict(ClipSpec, config.get("clip", {}), "clip")
    train = from_dict(TrainSpec, {**config.get("train", {}), "optimizer": optimizer, "clip": clip}, "train")
    probes = [registry.get("probe", name) for name in config.get("probes", [])]
    return task, net, train, probes


BLOCK_KEYS = {"start", "add", "max", "first"}


def seed_blocks(table: dict, fail) -> dict:
    """seeds = { start = 10, add = 5, max = 40 } (first = 0: the first seed)."""
    for key in set(table) - BLOCK_KEYS:
        fail(f"study.seeds.{key}", f"unknown key; a seed plan has {', '.join(sorted(BLOCK_KEYS))}")
    out = {"first": 0, **table}
    for key in ("start", "add", "max", "first"):
        value = out.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "first" else 1):
            fail(f"study.seeds.{key}", f"must be a whole number >= {0 if key == 'first' else 1}, got {value!r}")
    if out["max"] < out["start"]:
        fail("study.seeds.max", f"must be >= start ({out['start']}), got {out['max']}")
    return out


def task_loss(config: dict, registry) -> str:
    return registry.get("task", config["task"]["name"]).loss


# -- loading -------------------------------------------------------------------------------


def load_study(path: str | Path, registry) -> Study:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"{path}: cannot read the study file ({exc.strerror})") from None
    return parse_study(text, str(path), registry)


def parse_study(text: str, source: str, registry) -> Study:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{source}: not valid TOML: {exc}") from None

    def fail(key: str, message: str):
        raise StudyError(f"{source}: [{key}] {message}")

    unknown = set(data) - SECTIONS
    if unknown:
        fail(sorted(unknown)[0], f"unknown section; sections are: {', '.join(sorted(SECTIONS))}")
    meta = data.get("study")
    if not isinstance(meta, dict):
        fail("study", "missing: every study starts with a [study] table holding name and seeds")
    for key in set(meta) - STUDY_KEYS:
        fail(f"study.{key}", f"unknown key; allowed keys: {', '.join(sorted(STUDY_KEYS))}")
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        fail("study.name", f"must be a non-empty name without spaces, got {name!r}")
    seeds = meta.get("seeds", [0])
    blocks = None
    if isinstance(seeds, dict):
        blocks = seed_blocks(seeds, fail)
        seeds = list(range(blocks["first"], blocks["first"] + blocks["start"]))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            fail("study.seeds", f"a number of seeds must be >= 1, got {seeds}")
        seeds = list(range(seeds))
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        fail(
            "study.seeds",
            f"must be a non-empty list of whole numbers >= 0, a number of seeds (20: seeds 0..19) or a plan "
            f"{{ start = 10, add = 5, max = 40 }}, got {seeds!r}",
        )
    if len(set(seeds)) != len(seeds):
        fail("study.seeds", f"seeds must be distinct, got {seeds}")
    solve = meta.get("solve")
    if solve is not None:
        from ablab.core.lab.verdicts.quantities import validate_solve

        try:
            solve = validate_solve(solve, "solve")
        except ConfigError as exc:
            fail("study.solve", str(exc))
    design = meta.get("design", "grid")
    if design not in DESIGNS:
        fail("study.design", f"must be one of {', '.join(map(repr, DESIGNS))}, got {design!r}")
    base = data.get("base")
    if not isinstance(base, dict):
        fail("base", "missing: the [base] table holds task, model, optimizer, clip, train and probes")
    for key in set(base) - BASE_KEYS:
        fail(f"base.{key}", f"unknown key; allowed keys: {', '.join(sorted(BASE_KEYS))}")
    if not isinstance(base.get("task"), dict):
        fail(
            "base.task",
            f'missing: give a table such as {{ name = "adding" }}; tasks: {", ".join(registry.names("task"))}',
        )
    for key in ("model", "optimizer", "clip", "train"):
        if not isinstance(base.get(key, {}), dict):
            fail(f"base.{key}", f"must be a table, got {base[key]!r}")
    if not isinstance(base.get("gradcheck", False), bool):
        fail("base.gradcheck", f"must be true or false, got {base['gradcheck']!r}")
    probes = base.get("probes", [])
    if not isinstance(probes, list) or not all(isinstance(p, str) for p in probes):
        fail("base.probes", f"must be a list of probe names, got {probes!r}")
    for p in probes:
        if p not in registry.names("probe"):
            fail("base.probes", f"unknown probe {p!r}; available probes: {', '.join(registry.names('probe'))}")
    axes = data.get("axes", {})
    if not isinstance(axes, dict):
        fail("axes", "must be a table of dotted paths to lists of values")
    for path, values in axes.items():
        if not isinstance(values, list) or not values:
            fail(f"axes.{path}", f"must be a non-empty list of values, got {values!r}")
        parts = path.split("+")
        for part in parts:
            if part.split(".")[0] not in BASE_KEYS:
                fail(f"axes.{path}", f"each path must start with one of {', '.join(sorted(BASE_KEYS))}")
        if len(parts) > 1:
            for value in values:
                if not isinstance(value, list) or len(value) != len(parts):
                    fail(
                        f"axes.{path}",
                        f"varies {len(parts)} paths together, so each value must be a list of {len(parts)} values, "
                        f"got {value!r}",
                    )
    checks = data.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        fail("checks", "must be an array of tables ([[checks]])")
    from ablab.core.lab.verdicts.checks import validate_check

    for i, check in enumerate(checks):
        try:
            validate_check(check, axes)
        except ConfigError as exc:
            fail(f"checks[{i}]", str(exc))
    study = Study(
        name=name,
        source=source,
        data=data,
        seeds=list(seeds),
        design=design,
        base=base,
        axes=dict(axes),
        checks=list(checks),
        claim=meta.get("claim", ""),
        description=meta.get("description", ""),
        solve=solve,
        blocks=blocks,
    )
    for point, config in study.configurations():
        where = ", ".join(f"{k} = {v!r}" for k, v in point.items()) or "the base configuration"
        try:
            build(config, registry)
        except AblabError as exc:
            raise StudyError(f"{source}: in {where}: {exc}") from None
        if solve is not None and solve["metric"] == "accuracy" and task_loss(config, registry) != "xent":
            fail(
                "study.solve",
                f'in {where}: the task has no accuracy (it is not a classification task); use metric = "loss"',
            )
    try:
        study.runs(registry)
    except AblabError as exc:
        raise StudyError(f"{source}: {exc}") from None
    return study
