"""Results page at the size of a lab's store, timed in a real browser: from navigation until every
chart on the page is drawn, cold (first view after the dashboard starts) and warm (a repeat), and
the dashboard's peak resident memory.

    python benchmarks/dashboard_load.py [--runs 2000,20000,100000] [--postgres] [--repeats 3]

Targets (issues 15 and 20): first view at most 3 s, repeat view at most 1.5 s, the dashboard under
1 GiB resident, at 100,000 runs, on 2 cores, on SQLite and PostgreSQL. Needs /usr/bin/chromium
(or ABLAB_CHROMIUM) and playwright; --postgres needs initdb/pg_ctl. The store is filled through
the runner's own write path (Store.write_runs, one job of 20 seeds at a time), whose rate is
printed; the Python side alone (curves + summary table) is printed too, to tell the server's
share from the browser's.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ablab.core.lab import aggregates
from ablab.core.lab.results import config_summary
from ablab.core.lab.store import RunResult, Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry
from ablab.dashboard import charts, series
from ablab.dashboard.data import default_facet

CHROMIUM = os.environ.get("ABLAB_CHROMIUM", "/usr/bin/chromium")
VEGA_VIEWS = (Path(__file__).resolve().parents[1] / "tests" / "vega_views.js").read_text()
STUDY = """
[study]
name = "load"
seeds = {seeds}

[base]
task = {{ name = "adding", length = 10 }}
model = {{ kind = "recurrent", cell = "rnn", hidden = 8 }}
train = {{ steps = 300, batch_size = 8, log_every = 10 }}

[axes]
"model.cell" = ["rnn", "lstm", "gru", "lstm-cifg"]
"optimizer.lr" = [0.001, 0.003, 0.01, 0.03, 0.1]
"""


def fill(store: Store, n_runs: int) -> float:
    """n_runs runs over 20 configurations (more hidden sizes past 20,000 runs: a study has at
    most 1,000 seeds), written a job (one configuration's seeds) at a time; returns runs written
    per second."""
    registry = build_registry(entry_points=False)
    sizes = -(-n_runs // 20_000)  # 20 configurations x 1,000 seeds per hidden size
    seeds = list(range(max(1, n_runs // (20 * sizes))))
    text = STUDY.format(seeds=seeds)
    if sizes > 1:
        text += f'"model.hidden" = {[8 * (i + 1) for i in range(sizes)]}\n'
    study = parse_study(text, "load.toml", registry)
    runs = study.runs(registry)
    store.save_study(study, runs)
    rng = np.random.default_rng(0)
    jobs: dict[str, list] = {}
    for r in runs:
        jobs.setdefault(json_point(r.point), []).append(r)
    started = time.perf_counter()
    for job in jobs.values():
        for i in range(0, len(job), 20):
            results = []
            for r in job[i : i + 20]:
                metrics = [
                    {"step": s, "name": n, "value": float(rng.random())}
                    for s in range(0, 300, 10)
                    for n in ("loss", "grad_norm", "clipped")
                ]
                probes = [
                    {"step": s, "probe": "grad_through_time", "name": "norm", "layer": 0, "idx": k, "value": float(v)}
                    for s in (0, 300)
                    for k, v in enumerate(rng.random(10))
                ]
                results.append(RunResult(r.key, "done", 1.0, metrics, probes))
            store.write_runs(results)
    return len(runs) / (time.perf_counter() - started)


def json_point(point: dict) -> str:
    import json

    return json.dumps(point, sort_keys=True)


def python_side(store: Store) -> tuple[float, float]:
    """(curves + chart specs, summary table) seconds: the server's work for one first view."""
    started = time.perf_counter()
    configs = series.configurations(list(aggregates.run_counts(store, "load")["point"]))
    facet = default_facet(configs)
    for name in ("loss", "grad_norm"):
        stats = aggregates.metric_curve(store, "load", name)
        frame = series.curves(stats, configs, facet=facet)
        charts.band_chart(frame, x_title="step", y_title=name, title=name).to_dict()
    shaped = time.perf_counter() - started
    started = time.perf_counter()
    config_summary(store, "load", ["final_loss", "final_accuracy"])  # the table's headline columns
    return shaped, time.perf_counter() - started


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of the dashboard process (the CLI execs Streamlit in place)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, data_home: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "ABLAB_STORE": url, "XDG_DATA_HOME": data_home}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablab.core.cli", "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the dashboard did not start within 60 s")


def drawn(page) -> bool:
    """Every chart on the page has a rendered Vega view with a plot area."""
    views = page.evaluate(VEGA_VIEWS)
    return bool(views) and all(v["found"] and (v["plotHeight"] or 0) > 0 for v in views)


def time_view(page, url: str) -> float:
    """Seconds from navigation until the page's last element (the band caption, written after
    the last chart) is shown and every chart is drawn."""
    from playwright.sync_api import expect

    started = time.perf_counter()
    page.goto(url)
    expect(page.get_by_text("Bands:")).to_be_visible(timeout=120000)
    while not drawn(page):
        page.wait_for_timeout(20)
    return time.perf_counter() - started


def browser_views(url: str, tmp: Path, repeats: int) -> tuple[float, float, int, float]:
    """(cold s, warm median s, charts drawn, dashboard peak RSS MiB) for the Results page."""
    from playwright.sync_api import sync_playwright

    proc, base = serve(url, str(tmp / "data"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.goto(base)  # the app itself loaded once: cold means a cold results cache
            page.wait_for_selector("h1", timeout=60000)
            target = f"{base}/results?study=load"
            cold = time_view(page, target)
            warm = sorted(time_view(page, target) for _ in range(repeats))[repeats // 2]
            charts_drawn = len(page.evaluate(VEGA_VIEWS))
            browser.close()
        rss = peak_rss_mib(proc.pid)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)
        try:  # the Streamlit server in the same group, if it outlived the CLI
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
    return cold, warm, charts_drawn, rss


def measure(url: str, n_runs: int, backend: str, tmp: Path, repeats: int) -> None:
    store = Store(url)
    rate = fill(store, n_runs)
    shaped, table = python_side(store)
    cold, warm, charts_drawn, rss = browser_views(url, tmp, repeats)
    ok = {True: "OK", False: "SLOWER"}
    print(
        f"{backend:10} {n_runs:>7} runs | written {rate:6.0f} runs/s | python: curves {shaped:5.2f} s, "
        f"summary table {table:5.2f} s | browser ({charts_drawn} charts): first {cold:5.2f} s "
        f"(<= 3.00 {ok[cold <= 3]}), repeat {warm:5.2f} s (<= 1.50 {ok[warm <= 1.5]}) | "
        f"dashboard peak RSS {rss:6.0f} MiB (< 1024 {ok[rss < 1024]})",
        flush=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="2000", help="comma-separated study sizes (default 2000)")
    parser.add_argument("--postgres", action="store_true", help="also measure a PostgreSQL store")
    parser.add_argument("--repeats", type=int, default=3, help="repeat views to time (the median is reported)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.runs.split(",")]
    except ValueError:
        parser.error(f"--runs takes comma-separated whole numbers, such as 2000,20000; got {args.runs!r}")
    if not Path(CHROMIUM).exists():
        print(f"needs chromium at {CHROMIUM} (apt-get install chromium, or set ABLAB_CHROMIUM)", file=sys.stderr)
        return 2
    server = None
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from postgres_server import PostgresServer, find_bin

        if find_bin() is None:
            parser.error("--postgres needs PostgreSQL's initdb and pg_ctl (apt-get install postgresql)")
        server = PostgresServer(find_bin()).start()
    try:
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                measure(f"sqlite:///{Path(tmp) / 'load.sqlite'}", n, "sqlite", Path(tmp), args.repeats)
                if server is not None:
                    measure(server.create_database(f"load_{n}"), n, "postgresql", Path(tmp), args.repeats)
    finally:
        if server is not None:
            server.stop()
    print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
