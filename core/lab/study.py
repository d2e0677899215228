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
import functools
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablab.core.engine.clipping import ClipSpec
from ablab.core.engine.net import build_net
from ablab.core.engine.optim import OptimizerSpec
from ablab.core.engine.spec import from_dict
from ablab.core.engine.train import TrainSpec
from ablab.core.errors import AblabError, ConfigError, did_you_mean
from ablab.core.lab import study_checks as checks
from ablab.core.lab.names import check_study_name

SECTIONS = {"study", "base", "axes", "checks"}
STUDY_KEYS = {"name", "claim", "description", "design", "seeds", "expect", "solve"}
BASE_KEYS = {"task", "model", "optimizer", "clip", "train", "probes", "gradcheck"}
DESIGNS = ("grid", "one-at-a-time")


class StudyError(ConfigError):
    """A study file is invalid; the message names the file and the key path, on one line of
    at most 280 characters."""

    def __init__(self, message: str):
        super().__init__(checks.cap(message))


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


def planned_looks(seeds) -> int:
    """How many times a study's verdict may be looked at, from its `seeds` as written: 1, or
    every block of a seed plan { start, add, max } (the verdict then splits its error rate
    over the looks). One rule for `ablab claims`, the Claims page and stored verdicts."""
    if not isinstance(seeds, dict):
        return 1
    return 1 + math.ceil((seeds["max"] - seeds["start"]) / seeds["add"])


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
        return planned_looks(self.blocks)

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
    """Provider version and code fingerprint of the plugins a configuration uses: part of
    every run key, so a new version of a plugin, or an edit to its code (ablab's built-ins
    never change version), makes new runs instead of mixing with old results."""
    used = [("task", config["task"]["name"])]
    model = config.get("model", {})
    if model.get("kind", "recurrent") == "recurrent":
        used.append(("cell", model.get("cell", "lstm")))
        embedding = model.get("embedding")
        if embedding is not None:
            used.append(("embedding", embedding if isinstance(embedding, str) else embedding.get("name", "")))
    used += [("probe", p) for p in config.get("probes", [])]
    out = {}
    for k, n in used:
        entry = registry.entry(k, n)
        out[f"{k}:{n}"] = f"{entry.provider}=={entry.version}#{code_fingerprint(entry.obj)}"
    return out


def code_fingerprint(obj: Any) -> str:
    """Hash of the source file of the module that defines obj (a class, a function or an
    instance); "nosource" when there is none (a plugin built at run time)."""
    import inspect

    # a class or function is its own definition; a wrapper such as Activation(fn=...) is its fn's
    target = obj if isinstance(obj, type) or inspect.isroutine(obj) else getattr(obj, "fn", None) or type(obj)
    return _module_fingerprint(getattr(target, "__module__", None) or "")


@functools.cache
def _module_fingerprint(module: str) -> str:
    """Hash of the module's source and of every module of its own package that it imports,
    wherever the import sits (a kernel imported inside a function counts): an edit to a plugin's
    helper module changes its runs' keys as an edit to the plugin's own file does. A module that
    imports nothing of its package keeps the plain hash of its file."""
    sources = [path.read_bytes() for path in _package_sources(module)]
    if not sources:
        return "nosource"
    if len(sources) == 1:
        return hashlib.sha256(sources[0]).hexdigest()[:12]
    return hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in sources)).hexdigest()[:12]


def _package_sources(module: str) -> list[Path]:
    """The source files of `module` and of the modules of its package (the package that holds
    it, e.g. ablab.plugins.cells) it imports, transitively; the module's own file first."""
    import ast
    import importlib.util

    package = module.rpartition(".")[0]
    found: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop(0)
        if name in found:
            continue
        path = _source_path(name)
        if path is None:
            continue
        found[name] = path
        try:
            tree = ast.parse(path.read_bytes())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative to the importing module's package
                    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
                    try:
                        base = importlib.util.resolve_name("." * node.level + base, here)
                    except ImportError:
                        continue
                todo += [base, *(f"{base}.{a.name}" for a in node.names)]
        todo = [n for n in todo if package and n.startswith(package + ".") and n not in found]
    return list(found.values())


def _source_path(module: str) -> Path | None:
    import importlib.util
    import sys

    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if path is None and module:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):  # a name that is not a module (a class imported from one)
            return None
        path = spec.origin if spec is not None else None
    if not path or not str(path).endswith(".py"):
        return None
    path = Path(path)
    return path if path.is_file() else None


# -- building the objects a run needs ----------------------------------------------------


def build(config: dict, registry, check_task=None):
    """(task, net, TrainSpec, probes) of a resolved configuration. Raises ConfigError.
    check_task(task), if given, runs once the task is built and before the model is: study
    validation refuses sizes there, before any large array exists."""
    task_cfg = dict(config["task"])
    if "name" not in task_cfg:
        raise ConfigError(
            'task.name is required, e.g. task = { name = "adding" }; tasks: ' + ", ".join(registry.names("task"))
        )
    task = registry.create("task", task_cfg.pop("name"), **task_cfg)
    if check_task is not None:
        check_task(task)
    net = build_net(config.get("model", {}), task, registry)
    optimizer = from_dict(OptimizerSpec, config.get("optimizer", {}), "optimizer")
    clip = from_dict(ClipSpec, config.get("clip", {}), "clip")
    train = from_dict(TrainSpec, {**config.get("train", {}), "optimizer": optimizer, "clip": clip}, "train")
    probes = [registry.get("probe", name) for name in config.get("probes", [])]
    return task, net, train, probes


BLOCK_KEYS = {"start", "add", "max", "first"}


def seed_blocks(table: dict, fail) -> dict:
    """seeds = { start = 10, add = 5, max = 40 } (first = 0: the first seed)."""
    for key in sorted(set(table) - BLOCK_KEYS):
        fail(
            f"study.seeds.{key}",
            f"unknown key{did_you_mean(key, BLOCK_KEYS)}; a seed plan has {', '.join(sorted(BLOCK_KEYS))}",
        )
    out = {"first": 0, **table}
    for key in ("start", "add", "max", "first"):
        value = out.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "first" else 1):
            fail(f"study.seeds.{key}", f"must be a whole number >= {0 if key == 'first' else 1}, got {value!r}")
    if out["max"] < out["start"]:
        fail("study.seeds.max", f"must be >= start ({out['start']}), got {out['max']}")
    if out["max"] > checks.MAX_SEEDS:  # before any list of seeds is built from it
        fail("study.seeds.max", f"at most {checks.MAX_SEEDS} seeds, got {out['max']}")
    if out["first"] + out["max"] - 1 > checks.MAX_INT:
        fail("study.seeds.first", f"the seeds must stay below 2**63, got first = {out['first']}")
    return out


def task_loss(config: dict, registry) -> str:
    return registry.get("task", config["task"]["name"]).loss


# -- loading -------------------------------------------------------------------------------


def load_study(path: str | Path, registry) -> Study:
    path = Path(path)
    try:
        text = checks.read_study_bytes(path)
    except OSError as exc:
        raise StudyError(f"{path}: cannot read the study file ({exc.strerror})") from None
    except ValueError as exc:
        raise StudyError(f"{path}: {exc}") from None
    return parse_study(text, str(path), registry)


def parse_study(text: str, source: str, registry) -> Study:
    source = checks.key_text(source)
    try:
        data = checks.parse_toml(text)
    except ValueError as exc:
        raise StudyError(f"{source}: {exc}") from None

    def fail(key: str, message: str):
        raise StudyError(f"{source}: [{checks.key_text(key)}] {message}")

    bad = checks.check_values(data)
    if bad:
        fail(*bad)

    unknown = sorted(set(data) - SECTIONS)
    if unknown:
        fail(
            unknown[0],
            f"unknown section{did_you_mean(unknown[0], SECTIONS)}; sections are: {', '.join(sorted(SECTIONS))}",
        )
    meta = data.get("study")
    if not isinstance(meta, dict):
        fail("study", "missing: every study starts with a [study] table holding name and seeds")
    for key in sorted(set(meta) - STUDY_KEYS):
        fail(
            f"study.{key}", f"unknown key{did_you_mean(key, STUDY_KEYS)}; allowed keys: {', '.join(sorted(STUDY_KEYS))}"
        )
    name = meta.get("name")
    try:
        check_study_name(name)
    except ConfigError as exc:
        fail("study.name", str(exc))
    for key in ("claim", "description", "expect"):
        if not isinstance(meta.get(key, ""), str):
            fail(f"study.{key}", f"must be text, got {checks.short(meta[key])}")
    seeds = meta.get("seeds", [0])
    blocks = None
    if isinstance(seeds, dict):
        blocks = seed_blocks(seeds, fail)
        seeds = list(range(blocks["first"], blocks["first"] + blocks["start"]))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            fail("study.seeds", f"a number of seeds must be >= 1, got {seeds}")
        if seeds > checks.MAX_SEEDS:  # before the list is built: a billion seeds would fill the memory
            fail("study.seeds", f"at most {checks.MAX_SEEDS} seeds, got {seeds}")
        seeds = list(range(seeds))
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= checks.MAX_INT for s in seeds)
    ):
        fail(
            "study.seeds",
            "must be a count (seeds = 20), a non-empty list of whole numbers in [0, 2**63 - 1] (seeds = [0, 1, 2]) "
            f"or a seed plan {{ start = 10, add = 5, max = 40 }}, got {checks.short(seeds)}",
        )
    if len(seeds) > checks.MAX_SEEDS:
        fail("study.seeds", f"at most {checks.MAX_SEEDS} seeds, got {len(seeds)}")
    if len(set(seeds)) != len(seeds):
        fail("study.seeds", f"seeds must be distinct, got {checks.short(seeds)}")
    solve = meta.get("solve")
    if solve is not None:
        from ablab.core.lab.verdicts.quantities import validate_solve

        try:
            solve = validate_solve(solve, "solve")
        except ConfigError as exc:
            fail("study.solve", str(exc))
    design = meta.get("design", "grid")
    if design not in DESIGNS:
        fail("study.design", f"must be one of {', '.join(map(repr, DESIGNS))}, got {checks.short(design)}")
    base = data.get("base")
    if not isinstance(base, dict):
        fail("base", "missing: the [base] table holds task, model, optimizer, clip, train and probes")
    for key in sorted(set(base) - BASE_KEYS):
        fail(f"base.{key}", f"unknown key{did_you_mean(key, BASE_KEYS)}; allowed keys: {', '.join(sorted(BASE_KEYS))}")
    if not isinstance(base.get("task"), dict):
        fail(
            "base.task",
            f'missing: give a table such as {{ name = "adding" }}; tasks: {", ".join(registry.names("task"))}',
        )
    problem = config_problem(base, registry)
    if problem:
        fail(f"base.{problem[0]}", problem[1])
    axes = data.get("axes", {})
    if not isinstance(axes, dict):
        fail("axes", "must be a table of dotted paths to lists of values")
    check_axes(axes, base, fail)
    n = checks.count_configurations(axes, design)
    if n > checks.MAX_CONFIGURATIONS:
        fail("axes", f"make {n:,} configurations or more; a study has at most {checks.MAX_CONFIGURATIONS:,}")
    checks_ = data.get("checks", [])
    if not isinstance(checks_, list) or not all(isinstance(c, dict) for c in checks_):
        fail("checks", "must be an array of tables ([[checks]])")
    from ablab.core.lab.verdicts.checks import validate_check

    for i, check in enumerate(checks_):
        try:
            validate_check(check, axes)
        except ConfigError as exc:
            fail(f"checks[{i}]", str(exc))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:  # e.g. a table where a value belongs
            fail(f"checks[{i}]", f"ill-typed check ({exc.__class__.__name__}: {checks.short(str(exc), 80)})")
    study = Study(
        name=name,
        source=source,
        data=data,
        seeds=list(seeds),
        design=design,
        base=base,
        axes=dict(axes),
        checks=list(checks_),
        claim=meta.get("claim", ""),
        description=meta.get("description", ""),
        solve=solve,
        blocks=blocks,
    )
    for point, config in study.configurations():
        problem = configuration_problem(config, study, registry)
        if problem:
            # A mistake in [base] fails the base alone the same way: say so, not "in <first axis point>".
            # (A base value that every axis point overrides is never reported.)
            if problem == configuration_problem(base, study, registry):
                fail("base", problem)
            where = ", ".join(f"{k} = {checks.short(v, 40)}" for k, v in point.items()) or "the base configuration"
            raise StudyError(f"{source}: in {where}: {problem}")
        if solve is not None and solve["metric"] == "accuracy" and task_loss(config, registry) != "xent":
            where = ", ".join(f"{k} = {v!r}" for k, v in point.items()) or "the base configuration"
            fail(
                "study.solve",
                f'in {where}: the task has no accuracy (it is not a classification task); use metric = "loss"',
            )
    try:
        study.runs(registry)
    except AblabError as exc:
        raise StudyError(f"{source}: {exc}") from None
    return study


def check_axes(axes: dict, base: dict, fail) -> None:
    """Axis names are dotted paths into [base]; no key is varied twice; values are distinct."""
    for path, values in axes.items():
        if not isinstance(values, list) or not values:
            fail(f"axes.{path}", f"must be a non-empty list of values, got {checks.short(values)}")
        problem = checks.check_axis_path(path, base, BASE_KEYS)
        if problem:
            fail(f"axes.{path}", problem)
        parts = path.split("+")
        if len(parts) > 1:
            for value in values:
                if not isinstance(value, list) or len(value) != len(parts):
                    fail(
                        f"axes.{path}",
                        f"varies {len(parts)} paths together, so each value must be a list of {len(parts)} values, "
                        f"got {checks.short(value)}",
                    )
        repeated = checks.repeated_value(values)
        if repeated is not None:
            fail(f"axes.{path}", f"the value {checks.short(repeated)} appears twice")
    both = checks.overlapping_axes(axes)
    if both:
        fail(f"axes.{both[1]}", f"sets the same key as the axis {checks.key_text(both[0])!r}; vary each key once")


def config_problem(config: dict, registry) -> tuple[str, str] | None:
    """(key, problem) of a resolved configuration's plain keys, else None: checked for the
    base and again for every configuration, so an axis cannot skip them."""
    for key in ("task", "model", "optimizer", "clip", "train"):
        if not isinstance(config.get(key, {}), dict):
            return key, f"must be a table, got {checks.short(config[key])}"
    if not isinstance(config.get("gradcheck", False), bool):
        return "gradcheck", f"must be true or false, got {checks.short(config['gradcheck'])}"
    probes = config.get("probes", [])
    if not isinstance(probes, list) or not all(isinstance(p, str) for p in probes):
        return "probes", f"must be a list of probe names, got {checks.short(probes)}"
    for p in probes:
        if p not in registry.names("probe"):
            names = registry.names("probe")
            return (
                "probes",
                f"unknown probe {checks.short(p)}{did_you_mean(p, names)}; available probes: {', '.join(names)}",
            )
    if len(set(probes)) != len(probes):
        return "probes", "names a probe twice"
    for key in checks.task_set_keys(config):
        return f"model.{key}", "is set from the task; remove it"
    return None


def configuration_problem(config: dict, study: Study, registry) -> str | None:
    """Build one configuration as a run would (sizes first): what is wrong with it, else None."""
    problem = config_problem(config, registry)
    if problem:
        return f"[{problem[0]}] {problem[1]}"

    def sized(task) -> None:
        too_big = checks.check_size(config, task, len(study.seeds))
        if too_big:
            raise ConfigError(too_big)

    try:
        build(config, registry, check_task=sized)
    except AblabError as exc:
        return str(exc)
    except (TypeError, ValueError, OverflowError, ArithmeticError, KeyError, AttributeError, IndexError) as exc:
        # a value of the wrong shape that no specific check caught: still one clear line
        return f"invalid value ({exc.__class__.__name__}: {checks.short(str(exc), 100)})"
    return None
