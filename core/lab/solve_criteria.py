"""Which solve criteria a run is judged by, so that its summaries hold the steps it took to meet
each (run_summaries.solve_name) and a verdict reads those instead of its records: the run's
task's default (Task.solve, else the default for its loss) and the `solve` of every study that
links it. Both are known when a run is written; a study saved later with a criterion of its
own gets it for its finished runs then (Store.save_study), and migration m006 fills old stores.
A value that is missing anyway (a task no installed plugin provides) is computed from the
run's records when a verdict needs it (verdicts.quantities)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from ablab.core.lab import bulk, curves, run_summaries
from ablab.core.lab.status import FINISHED


def task_criterion(config: dict, registry) -> dict | None:
    """The solve criterion of a configuration's task; None when its task cannot be found (a
    plugin no longer installed: its runs are not judged as solved or not)."""
    from ablab.core.engine.task import solve_criterion

    try:
        return solve_criterion(registry.get("task", config["task"]["name"]))
    except Exception:
        return None


def study_criterion(spec: dict | None) -> dict | None:
    """A stored study's own criterion (its [study] solve), None when it has none."""
    solve = (spec or {}).get("study", {}).get("solve")
    return solve if isinstance(solve, dict) else None


def _default_registry():
    try:
        from ablab.core.plugin_system.registry import default_registry

        return default_registry()
    except Exception:  # a broken plugin environment: task defaults are then computed when read
        return None


def criteria_of(conn: sa.Connection, tables, keys: list[str], registry=None, links=None) -> dict[str, list[dict]]:
    """run key -> the distinct criteria it is judged by. registry: for the tasks' defaults (the
    process's default registry when None); links: curves.links_of(keys), when already read."""
    if not keys:
        return {}
    runs, studies = tables["runs"], tables["studies"]
    config_of: dict[str, str] = {}
    task_of: dict[str, dict | None] = {}  # per configuration: a study of 100,000 runs has a few dozen
    for i in range(0, len(keys), 500):
        q = sa.select(runs.c.key, runs.c.config_key, runs.c.config).where(runs.c.key.in_(keys[i : i + 500]))
        for key, config_key, config in conn.execute(q):
            config_of[key] = config_key
            if config_key not in task_of:
                registry = registry if registry is not None else _default_registry()
                task_of[config_key] = None if registry is None else task_criterion(json.loads(config), registry)
    links = links if links is not None else curves.links_of(conn, tables, keys)
    names = sorted({study for pairs in links.values() for study, _ in pairs})
    own: dict[str, dict | None] = {}
    for i in range(0, len(names), 500):
        q = sa.select(studies.c.name, studies.c.spec).where(studies.c.name.in_(names[i : i + 500]))
        own.update({name: study_criterion(json.loads(spec)) for name, spec in conn.execute(q)})
    out: dict[str, list[dict]] = {}
    for key in keys:
        found = [task_of.get(config_of.get(key))] + [own.get(study) for study, _ in links.get(key, [])]
        distinct = {run_summaries.solve_name(c): c for c in found if c is not None}
        out[key] = list(distinct.values())
    return out


def lacking(conn: sa.Connection, tables, study: str, criterion: dict) -> list[str]:
    """The study's finished current runs whose summaries lack the criterion's steps."""
    links, runs, table = tables["study_runs"], tables["runs"], tables["run_summaries"]
    has = sa.select(table.c.run_key).where(
        table.c.run_key == links.c.run_key, table.c.name == run_summaries.solve_name(criterion)
    )
    q = (
        sa.select(links.c.run_key)
        .join(runs, runs.c.key == links.c.run_key)
        .where(links.c.study == study, curves.current(links), runs.c.status.in_(FINISHED), ~has.exists())
    )
    return [r[0] for r in conn.execute(q)]


def add_missing(conn: sa.Connection, tables, criteria: dict[str, list[dict]]) -> None:
    """Give the runs named in `criteria` the budget and solve steps their summaries lack,
    computed from their records by the one definition (run_summaries.summarize_run)."""
    import pandas as pd  # here: the runner imports this module, and only this repair needs frames

    table, keys = tables["run_summaries"], list(criteria)
    no_probes = pd.DataFrame(columns=["run_key", "step", "probe", "name", "idx", "value"])
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        wanted = {k: {"budget", *(run_summaries.solve_name(c) for c in criteria[k])} for k in chunk}
        names = sorted(set().union(*wanted.values()))
        q = sa.select(table.c.run_key, table.c.name).where(table.c.run_key.in_(chunk), table.c.name.in_(names))
        have = set(map(tuple, conn.execute(q)))
        todo = [k for k in chunk if any((k, n) not in have for n in wanted[k])]
        if not todo:
            continue
        metrics = run_summaries.records(conn, tables["metrics"], todo, names=[*run_summaries.SOLVE_METRICS, "baseline"])
        values = run_summaries.summarize(metrics, no_probes, {k: criteria[k] for k in todo})
        rows = [
            r
            for r in run_summaries.to_rows(values)
            if r["name"] in wanted[r["run_key"]] and (r["run_key"], r["name"]) not in have
        ]
        if rows:
            bulk.insert_rows(conn, table, rows)
