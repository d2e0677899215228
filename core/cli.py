"""The `ablab` command line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from ablab.core.errors import AblabError


def plugin_rows(registry) -> list[dict[str, str]]:
    rows = [
        {"kind": e.kind, "name": e.name, "provider": e.provider, "version": e.version, "status": "ok", "summary": e.summary}
        for e in registry.all()
    ]
    for f in registry.failures:
        rows.append({"kind": f.kind or "", "name": "", "provider": f.provider, "version": f.version, "status": "failed", "summary": f.error})
    return rows


def format_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def cmd_plugins(args) -> int:
    from ablab.core.registry import default_registry

    rows = plugin_rows(default_registry())
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows, ["kind", "name", "provider", "version", "status", "summary"]))
    return 0


def cmd_dashboard(args) -> int:
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    env = dict(os.environ)
    if args.store:
        env["ABLAB_STORE"] = args.store
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", "127.0.0.1",
        "--server.port", str(args.port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    print(f"ablab dashboard on http://127.0.0.1:{args.port}", flush=True)
    return subprocess.call(command, env=env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ablab", description="Ablation lab for recurrent and deep networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("plugins", help="list registered plugins (cells, activations, ...) and failed ones")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("dashboard", help="serve the Streamlit dashboard on 127.0.0.1")
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default 8501)")
    p.add_argument("--store", default=None, help="results store URL (default: ABLAB_STORE or the local SQLite file)")
    p.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AblabError as exc:
        print(f"ablab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
