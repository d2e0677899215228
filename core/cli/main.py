"""The `ablab` command line."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import signal
import sys
import time

from ablab.core.errors import AblabError


def format_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def cmd_plugins(args) -> int:
    from ablab.core.plugin_system.registry import default_registry, plugin_rows

    rows = plugin_rows(default_registry())
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows, ["kind", "name", "provider", "version", "status", "summary"]))
    return 0


def port_in_use(port: int) -> bool:
    """Whether 127.0.0.1:PORT is taken. Bound as Streamlit's server binds it (SO_REUSEADDR), so a
    port left in TIME_WAIT by a dashboard just stopped counts as free, as it is for Streamlit."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def cmd_dashboard(args) -> int:
    # checked before anything is printed: Streamlit would say so only after our "on http://..." line
    if port_in_use(args.port):
        raise AblabError(f"port {args.port} is in use; pass --port with a free one")
    from ablab.core.lab.store import Store, default_store_url

    # opened here first, as the pages would open it: a URL that names no store (a text file, a
    # database that is not ablab's, a server that does not answer) is said now, not in the browser
    Store(args.store or default_store_url()).engine.dispose()
    # the dashboard is found as an installed module, never by a path relative to this file
    app = importlib.util.find_spec("ablab.dashboard.app").origin
    env = dict(os.environ)
    if args.store:
        env["ABLAB_STORE"] = args.store
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button: this is a local lab
    ]
    print(f"ablab dashboard on http://127.0.0.1:{args.port}", flush=True)
    # exec, not a child: the dashboard is this very process, so stopping `ablab dashboard` by
    # its pid (SIGTERM, SIGKILL) stops Streamlit too, and nothing is left serving the port
    os.execve(sys.executable, command, env)
    return 0  # not reached


def _store(args, write: bool = True):
    from ablab.core.lab.store import Store

    return Store(args.store, write=write)


def _add_store(p) -> None:
    p.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="results store URL, e.g. sqlite:////abs/path.sqlite or postgresql+psycopg://USER@HOST/DB (default: "
        "$ABLAB_STORE, else ablab.sqlite under $XDG_DATA_HOME/ablab or ~/.local/share/ablab)",
    )


def _whole(low: int, high: int):
    """An argparse type: a whole number in [low, high], refused with the allowed range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}, got {text[:40]!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got {value}")
        return value

    return parse


MAX_WORKERS = 1024  # local processes; a cluster's size is the scheduler's business


def cmd_run(args) -> int:
    # imported first: a KeyboardInterrupt inside an import leaves the module half made (main() says interrupted)
    import ablab.core.lab.runner
    import ablab.core.lab.study
    import ablab.core.lab.verdicts.verdict
    import ablab.core.plugin_system.registry  # noqa: F401

    # Ctrl-C, the dashboard's Stop and SIGTERM may come at any moment: from here on each ends
    # with the "interrupted" line (test_interrupt_windows sends one at every phase)
    with stop_on_sigterm() as stopping:
        started: dict = {}  # what exists when the signal comes: the study and the store
        tty = sys.stderr.isatty()
        try:
            p = _run(args, started, tty, lambda: bool(stopping))
            # a KeyboardInterrupt raised inside a __del__ is swallowed: the signal still counts
            p.interrupted = p.interrupted or bool(stopping)
            stopping.append(0)  # the outcome is decided: a Ctrl-C from here on changes nothing
        except KeyboardInterrupt:  # outside run_study (loading, between blocks): count from the store
            p = stopped_progress(**started)
        return _report(p, tty)


def _run(args, started: dict, tty: bool, stop_requested):
    from ablab.core.lab.runner import progress_line
    from ablab.core.lab.study import digest, load_study
    from ablab.core.lab.verdicts.verdict import run_by_need
    from ablab.core.plugin_system.registry import default_registry

    registry = default_registry()
    study = load_study(args.study, registry)
    store = _store(args)
    started.update(study=study, registry=registry, store=store)
    store.check_integrity()  # never write into a damaged file
    executor = None
    if args.scheduler:
        from ablab.core.lab.cluster import dask_executor

        executor = dask_executor(args.scheduler)

    def show(p):
        line = progress_line(p)
        print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    print(
        f"study {study.name}: {len(study.runs(registry))} runs in {len(study.points())} configurations, "
        f"store {store.display_url}",
        file=sys.stderr,
    )
    stored = store.study_spec(study.name)
    if stored is not None and digest(stored) != study.hash:  # same name, another definition
        held = store.current_run_keys(study.name)
        leaving = len(held - {r.key for r in study.runs(registry)})
        if leaving and not args.replace:  # a team's results must not drop out of view by a reused name
            raise AblabError(
                f"{args.study}: the store holds study {study.name!r} with another definition, and this file would "
                f"set aside {leaving} of its {len(held)} runs (kept, but marked stale and left out of results, "
                "reviews' charts and verdicts); give this file another [study] name, or pass --replace"
            )
        print(
            f"note: the store held study {study.name} with another definition; its runs this file no longer "
            f"makes ({leaving}) are kept, marked stale and left out of results (running the old file brings them back)",
            file=sys.stderr,
        )

    def look(current, progress, v):
        if tty:
            print(file=sys.stderr)
        print(
            f"{len(current.seeds)} seeds: {v.label} ({sum(c.holds is None for c in v.checks)} checks open)",
            file=sys.stderr,
        )

    _, p = run_by_need(
        study,
        registry,
        store,
        on_look=look,
        workers=args.workers,
        executor=executor,
        rerun_failed=args.rerun_failed,
        rerun=args.rerun,
        on_progress=show,
        stop_requested=stop_requested,
    )
    checked = any(config.get("gradcheck") for _, config in study.configurations())
    if checked and not p.interrupted and not stop_requested():  # a store query only when asked for
        _warn_failed_gradient_checks(store, study.name, tty)
    return p


def _warn_failed_gradient_checks(store, name: str, tty: bool) -> None:
    """A study run with `gradcheck = true` hears of a configuration whose backward disagrees with
    finite differences (a plugin's wrong gradient), instead of finding a number in a column."""
    from ablab.core.engine.gradcheck import TOL
    from ablab.core.lab.results import config_summary

    table = config_summary(store, name, ["gradcheck_error"])
    if table.empty or "gradcheck_error" not in table.columns:
        return
    bad = table[table["gradcheck_error"] > TOL]
    if bad.empty:
        return
    axes = list(table.columns[: list(table.columns).index("runs")])
    worst = bad.sort_values("gradcheck_error", ascending=False)
    shown = "; ".join(
        (", ".join(f"{a}={row[a]}" for a in axes) or "the base") + f": {row['gradcheck_error']:.3g}"
        for _, row in worst.head(3).iterrows()
    )
    more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
    if tty:
        print(file=sys.stderr)
    print(
        f"warning: gradient check failed in {len(bad)} of {len(table)} configurations (float64 relative error above "
        f"{TOL:g}): {shown}{more}; `ablab check-plugin` names the wrong gradient",
        file=sys.stderr,
    )


def _report(p, tty: bool) -> int:
    if tty:
        print(file=sys.stderr)
    if p.interrupted:
        print(
            f"interrupted: {p.finished} runs finished, {p.left} left; run the same command again to finish the rest",
            file=sys.stderr,
        )
        return 130
    print(
        f"done: {p.done} finished, {p.diverged} diverged, {p.failed} failed, {p.skipped} already in the store "
        f"({time.time() - p.started:.1f} s)",
        file=sys.stderr,
    )
    if p.failed:
        print("failed runs keep their traceback in the store; `ablab run --rerun-failed` retries them", file=sys.stderr)
    if p.left:
        print(
            f"ablab: error: the study is not complete: {p.left} runs left; run the same command again", file=sys.stderr
        )
    return 1 if p.failed or p.left else 0


@contextlib.contextmanager
def stop_on_sigterm():
    """SIGTERM stops a run the way Ctrl-C does: workers ended, leases given back. SIGINT does
    too even when this process was started with it ignored (a background job of a script
    inherits SIGINT ignored), so the dashboard's Stop, which sends SIGINT, always works.
    Only the first signal raises KeyboardInterrupt: a second one must not cut the cleanup short
    (it printed a raw traceback). Yields the list that, once not empty, makes signals no-ops."""

    stopping: list[int] = []

    def handler(signum, frame):
        if not stopping:
            stopping.append(signum)
            raise KeyboardInterrupt

    def unraisable(info):  # the handler ran inside a __del__, which swallows it: stopping says so
        if not issubclass(info.exc_type, KeyboardInterrupt):
            previous_hook(info)

    previous = signal.signal(signal.SIGTERM, handler)
    previous_int = signal.signal(signal.SIGINT, handler)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield stopping
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        sys.unraisablehook = previous_hook


def stopped_progress(study=None, registry=None, store=None):
    """The progress of a study interrupted outside the runner: its runs counted in the store
    (none yet when the signal came before the study and its store were opened)."""
    from ablab.core.lab.runner import DONE, Progress

    keys = [r.key for r in study.runs(registry)] if store is not None else []
    status = store.statuses(keys) if keys else {}
    p = Progress(total=len(keys), interrupted=True)
    p.left = sum(status.get(k) not in DONE for k in keys)
    p.skipped = len(keys) - p.left
    return p


def cmd_studies(args) -> int:
    from ablab.core.lab.status import STATUSES
    from ablab.core.lab.store import NoStoreError

    try:
        studies = _store(args, write=False).studies()
    except NoStoreError:
        if args.store or os.environ.get("ABLAB_STORE"):
            raise  # a store the user named: a typo in its path must not read as "empty"
        studies = []
    if not studies:
        print("no studies in the store yet: try `ablab claims` or `ablab run STUDY.toml`")
        return 0
    rows = [
        {
            "study": s["name"],
            **{k: str(s["counts"].get(k, 0)) for k in STATUSES},
            "stale": str(s["stale"]),
        }
        for s in studies
    ]
    print(format_table(rows, ["study", *STATUSES, "stale"]))
    if any(s["stale"] for s in studies):
        print("stale: runs the study no longer makes (its file changed, or a plugin's code did); kept, not in results")
    return 0


HEADLINE = ["final_loss", "final_accuracy"]  # `ablab results` without --columns: as the dashboard's table leads


def cmd_results(args) -> int:
    from ablab.core.lab.names import check_study_name
    from ablab.core.lab.results import result_columns, run_frame, summary

    check_study_name(args.study)
    store = _store(args, write=False)
    if args.raw:
        if args.format != "csv" or args.columns:
            raise AblabError("--raw exports every record as CSV: give it with --format csv and without --columns")
        if not store.run_rows(args.study):
            raise AblabError(_no_results(store, args.study))
        from ablab.core.lab.export import write_csv

        write_csv(store, args.study, sys.stdout)
        return 0
    wanted = HEADLINE if args.columns is None else [c.strip() for c in args.columns.split(",") if c.strip()]
    frame = run_frame(store, args.study, columns=None if wanted == ["all"] else wanted)
    if frame.empty:
        raise AblabError(_no_results(store, args.study))
    if args.columns is not None and wanted != ["all"]:
        missing = [c for c in wanted if c not in frame.columns]
        if missing or not wanted:
            choices = ", ".join(result_columns(store, args.study)) or "none"
            raise AblabError(
                f"--columns: unknown column {(missing or [''])[0]!r} for study {args.study!r}; choices: all, {choices}"
            )
    table = sorted_by_axes(summary(frame))
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "json":
        # JSON has no infinity: a target never reached is "inf" (text), so it reads apart from a
        # missing value (null)
        infinite = table.select_dtypes("number").columns
        print(
            table.astype({c: object for c in infinite})
            .replace([math.inf, -math.inf], ["inf", "-inf"])
            .to_json(orient="records", indent=2)
        )
    else:
        with pd_options():
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def sorted_by_axes(table):
    """Configurations in the order of their axis values (numbers as numbers), as the
    dashboard's table shows them; the axes are the columns before `runs`."""
    import pandas as pd

    axes = list(table.columns[: list(table.columns).index("runs")]) if "runs" in table.columns else []
    if not axes:
        return table

    def natural(column):
        numbers = pd.to_numeric(column, errors="coerce")
        return numbers if numbers.notna().all() else column.astype(str)

    return table.sort_values(axes, key=natural, kind="stable").reset_index(drop=True)


def _no_results(store, study: str) -> str:
    names = ", ".join(s["name"] for s in store.studies()) or "none"
    return f"no results for study {study!r} in {store.display_url}; stored studies: {names}"


def pd_options():
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 50)


def claim_studies(args, registry, store) -> list:
    """What `ablab claims` judges: (study or None, name) pairs. A Study is run (unless
    --no-run); a bare name is a stored study judged from the checks stored with it."""
    from ablab.core.lab.study import load_study
    from ablab.studies import builtin_study_paths

    if args.files:
        studies = [load_study(path, registry) for path in args.files]
        for study, path in zip(studies, args.files):
            if not study.checks:
                raise AblabError(no_checks(f"{study.name} ({path})"))
        return [(s, None) for s in studies]
    builtins = [load_study(p, registry) for p in builtin_study_paths()]
    if not args.study:
        return [(s, None) for s in builtins]
    chosen = [s for s in builtins if s.name == args.study]
    if chosen:
        return [(chosen[0], None)]
    spec = store.study_spec(args.study)
    if spec is None:
        stored = [s["name"] for s in store.studies()]
        raise AblabError(
            f"no study {args.study!r}: built-in studies are {', '.join(s.name for s in builtins)}; "
            f"stored studies in {store.display_url}: {', '.join(stored) or 'none'}"
        )
    if not spec.get("checks"):
        raise AblabError(no_checks(args.study))
    return [(None, args.study)]


def no_checks(name: str) -> str:
    return (
        f"study {name} has no [[checks]]: nothing to judge (add [[checks]] to its file, "
        "see docs/studies.md; `ablab results` shows its runs)"
    )


def markdown_verdicts(verdicts: list) -> str:
    """A Markdown table: each study's verdict with every check's effect, interval and n."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| study | claim | verdict | checks: effect [interval], n |", "|---|---|---|---|"]
    for v in verdicts:
        checks = "<br>".join(f"**{c.label}**: {cell(c.what)}: {cell(c.text)}" for c in v.checks) or "no checks"
        lines.append(f"| {v.study} | {cell(v.claim)} | **{v.label}** | {checks} |")
    return "\n".join(lines)


def verdict_record(v) -> dict:
    def number(x):
        return None if x != x else float(x)  # NaN -> null

    return {
        "study": v.study,
        "claim": v.claim,
        "verdict": v.label,
        "checks": [
            {
                "what": c.what,
                "verdict": c.label,
                "effect": number(c.effect),
                "low": number(c.low),
                "high": number(c.high),
                "n": c.n,
                "confidence": c.confidence,
                "text": c.text,
            }
            for c in v.checks
        ],
    }


def cmd_claims(args) -> int:
    from ablab.core.lab.runner import progress_line
    from ablab.core.lab.verdicts import stored_verdict, study_verdict
    from ablab.core.lab.verdicts.verdict import run_by_need
    from ablab.core.plugin_system.registry import default_registry

    started = time.time()
    registry = default_registry()
    store = _store(args)
    verdicts = []
    for study, name in claim_studies(args, registry, store):
        if study is None:
            v = stored_verdict(store, name, registry)
        else:
            if not args.no_run:
                study, p = run_by_need(study, registry, store, workers=args.workers)
                print(f"{study.name}: {progress_line(p)}", file=sys.stderr)
            v = study_verdict(study, store, registry)
        verdicts.append(v)
        if not (args.markdown or args.json):
            print(f"[{v.label.upper()}] {v.study}: {v.claim or '(no claim sentence: add claim = ... under [study])'}")
            for c in v.checks:
                mark = {True: "ok", False: "FAIL", None: "??"}[c.holds]
                print(f"    {mark:4} {c.what}: {c.text}")
    if args.markdown:
        print(markdown_verdicts(verdicts))
    if args.json:
        print(json.dumps([verdict_record(v) for v in verdicts], indent=2))
    counts = {label: sum(v.label == label for v in verdicts) for label in ("holds", "does not hold", "inconclusive")}
    print(
        f"ablab claims: {len(verdicts)} {'study' if len(verdicts) == 1 else 'studies'} in "
        f"{time.time() - started:.1f} s: " + ", ".join(f"{label}: {n}" for label, n in counts.items()),
        file=sys.stderr,
    )
    return 0 if verdicts and all(v.holds is True for v in verdicts) else 1


def cmd_new_plugin(args) -> int:
    from ablab.core.plugin_system.scaffold import new_plugin

    kinds = list(dict.fromkeys(args.kind))  # one of each, in the order given
    root = new_plugin(args.name, kinds, args.dir)
    checks = " && ".join(f"ablab check-plugin {kind} {args.name}" for kind in kinds)
    print(f"wrote {root}\nnext: pip install -e {root} && {checks} && pytest {root}")
    return 0


def parse_option(text: str) -> tuple[str, object]:
    """'horizon=10' -> ('horizon', 10): the value is read as a TOML value (numbers, true/false,
    "quoted" strings); anything TOML cannot read is taken as a bare string."""
    import tomllib

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise AblabError(f"--option takes key=value, e.g. --option horizon=10; got {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed


def cmd_check_plugin(args) -> int:
    from ablab.core.plugin_system.registry import default_registry
    from ablab.core.plugin_system.testing import ContractError, check_plugin

    options = dict(parse_option(o) for o in args.option)
    try:
        outcomes = check_plugin(args.kind, args.name, default_registry(), options)
    except ContractError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    for o in outcomes:
        print(f"ok   {o.name}" if o.status == "ok" else f"skip {o.name}: {o.reason}")
    print(f"{args.kind} {args.name!r} passes the ablab contract")
    return 0


def cmd_runs(args) -> int:
    store = _store(args)
    runs = store.runs_of(args.study)
    if not runs:
        names = ", ".join(s["name"] for s in store.studies()) or "none"
        raise AblabError(f"no runs of study {args.study!r} in {store.display_url}; stored studies: {names}")
    if args.failed:
        failed = [r for r in runs if r["status"] == "failed"]
        if not failed:
            print(f"study {args.study}: no failed runs")
        for r in failed:
            print(f"== run {r['key'][:12]} seed {r['seed']} point {json.dumps(r['point'], sort_keys=True)}")
            print((r.get("error") or "(no traceback stored)").rstrip())
        return 1 if failed else 0
    rows = [
        {"run": r["key"][:12], "seed": str(r["seed"]), "status": r["status"], "point": json.dumps(r["point"])}
        for r in runs
    ]
    print(format_table(rows, ["run", "seed", "status", "point"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ablab.core.plugin_system.scaffold import KINDS as SCAFFOLD_KINDS
    from ablab.core.plugin_system.testing import CHECKS

    parser = argparse.ArgumentParser(prog="ablab", description="Ablation lab for recurrent and deep networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.commands = sub.choices  # name -> the command's parser, for its usage line

    p = sub.add_parser("plugins", help="list registered plugins (cells, activations, ...) and failed ones")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("run", help="run a study file; finished runs in the store are skipped")
    p.add_argument("study", metavar="STUDY.toml", help="the study file")
    _add_store(p)
    p.add_argument(
        "--workers",
        type=_whole(0, MAX_WORKERS),
        default=None,
        help="worker processes (default: one per core; 0 runs in this process)",
    )
    p.add_argument("--rerun-failed", action="store_true", help="also redo runs that failed before")
    p.add_argument("--rerun", action="store_true", help="recompute every run, even those already in the store")
    p.add_argument(
        "--replace",
        action="store_true",
        help="run this file even though the store holds its study under another definition whose runs it "
        "would set aside (they stay stored, marked stale)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="send jobs to a Dask scheduler instead of local workers",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("studies", help="list stored studies with run counts by status (and stale runs)")
    _add_store(p)
    p.set_defaults(func=cmd_studies)

    p = sub.add_parser("results", help="one row per configuration: mean and 95%% CI over seeds")
    p.add_argument("study", help="study name (see `ablab studies`)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument(
        "--columns",
        default=None,
        help="result columns to summarise, comma-separated (default: final_loss,final_accuracy; "
        "'all' for every one; a wrong name lists the choices)",
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="with --format csv: stream every metric and probe record of the study instead (one row per record)",
    )
    _add_store(p)
    p.set_defaults(func=cmd_results)

    p = sub.add_parser(
        "claims",
        help="run (or read) studies and print each verdict: the built-in claims, study files, or a stored study",
    )
    p.add_argument(
        "files", nargs="*", metavar="STUDY.toml", help="study files to run and judge (default: the built-in claims)"
    )
    p.add_argument("--study", default=None, help="only this study: a built-in claim or any study in the store")
    p.add_argument(
        "--workers",
        type=_whole(0, MAX_WORKERS),
        default=None,
        help="worker processes (default: one per core; 0 runs in this process)",
    )
    p.add_argument("--no-run", action="store_true", help="only read what the store holds")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--markdown", action="store_true", help="print a Markdown table of the verdicts (README)")
    output.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    _add_store(p)
    p.set_defaults(func=cmd_claims)

    p = sub.add_parser("new-plugin", help="write a pip-installable plugin package that passes its own tests")
    p.add_argument("name", help="plugin name, e.g. my-cell")
    p.add_argument(
        "--kind",
        required=True,
        action="append",
        choices=SCAFFOLD_KINDS,
        help="what the package registers; repeat for several kinds in one package (--kind cell --kind activation)",
    )
    p.add_argument("--dir", default=".", help="where to create ablab-NAME/ (default: here)")
    p.set_defaults(func=cmd_new_plugin)

    p = sub.add_parser("check-plugin", help="run the plugin contract: shapes, determinism, independence, gradients")
    p.add_argument("kind", choices=list(CHECKS))
    p.add_argument("name", help="the registered name")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the plugin (a TOML value), repeatable: --option horizon=10",
    )
    p.set_defaults(func=cmd_check_plugin)

    p = sub.add_parser("runs", help="the runs of a stored study; --failed prints their stored tracebacks")
    p.add_argument("study", help="study name (see `ablab studies`)")
    p.add_argument("--failed", action="store_true", help="only failed runs, each with its stored traceback")
    _add_store(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("dashboard", help="serve the Streamlit dashboard on 127.0.0.1")
    p.add_argument("--port", type=_whole(1, 65535), default=8501, help="port to listen on (default 8501)")
    _add_store(p)
    p.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting up or in a command without its own handling
        print("ablab: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the command's own usage, not the top-level one argparse would print
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)[:200]}")
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader went away (`ablab results X | head`): stop quietly, as cat and grep do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not raise again
        return 0
    except AblabError as exc:
        print(f"ablab: error: {str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}", file=sys.stderr)
        return 2
    except Exception as exc:
        # the store failed mid-command (damaged file, disk full, lost server): one line, no traceback
        import sqlite3

        import sqlalchemy as sa

        if not isinstance(exc, sa.exc.SQLAlchemyError | sqlite3.Error):
            raise
        first = (str(exc).splitlines() or [""])[0][:200]
        print(f"ablab: error: the results store failed ({exc.__class__.__name__}: {first})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
