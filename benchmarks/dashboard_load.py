"""Results page at the size of a lab's store, timed in a real browser: from navigation until every
chart on the page is drawn, cold (first view after the dashboard starts) and warm (a repeat), and
the dashboard's peak resident memory.

    python benchmarks/dashboard_load.py [--runs 2000,20000,100000] [--postgres] [--repeats 3] [--breakdown]

Targets (issues 15 and 20): first view at most 3 s, repeat view at most 1.5 s, the dashboard under
1 GiB resident, at 100,000 runs, on 2 cores, on SQLite and PostgreSQL. Needs /usr/bin/chromium
(or ABLAB_CHROMIUM) and playwright; --postgres needs initdb/pg_ctl. The store is filled through
the runner's own write path (Store.write_runs, one job of 20 seeds at a time), whose rate is
printed; the Python side alone (curves + summary table) is printed too, to tell the server's
share from the browser's.

Repeat views are timed two ways, both printed: by reload (the link opened again: Streamlit's
frontend boots again, the issues' figure) and by a click on Results in the sidebar from the Home
page (what a user switching pages inside the app gets: no reload).

--breakdown prints, for the first and the two repeat views: each section of the Results script (the
dashboard runs with ABLAB_TIMINGS set, which dashboard/laps.py appends to), when the page showed
its title, table and first and last chart and when the script ran (marks recorded in the page
on each DOM change), the websocket bytes received, and the CPU seconds of the dashboard and of
each browser process (renderer, gpu-process, ...), which say more than wall time on a busy
machine. --store-dir and --postgres-url keep filled stores for the next run (a 100,000-run fill
takes minutes).
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
        stats = aggregates.metric_curve(store, "load", name, max_points=series.points_per_curve(len(configs)))
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


def serve(url: str, data_home: str, timings: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "ABLAB_STORE": url, "XDG_DATA_HOME": data_home, "ABLAB_TIMINGS": str(timings)}
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


# Recorded in the page from navigation on (performance.now(), ms): when the title shows, when the
# script starts and finishes running (Streamlit's data-test-script-state), when the table and the
# first and last Vega view are drawn (a canvas or svg in each .vega-embed).
MARKS = """
window.__ablab = {marks: {}, charts: 0};
(() => {
  const mark = k => { if (!(k in window.__ablab.marks)) window.__ablab.marks[k] = performance.now(); };
  const look = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute('data-test-script-state');
    if (state === 'running') mark('script running');
    if (state === 'notRunning' && 'script running' in window.__ablab.marks) mark('script done');
    if ([...document.querySelectorAll('h1')].some(h => h.textContent.includes('Results'))) mark('title');
    if (document.querySelector('[data-testid="stDataFrame"] canvas, [data-testid="stDataFrame"] table')) mark('table');
    const views = [...document.querySelectorAll('.vega-embed')];
    const drawn = views.filter(v => v.querySelector('canvas, svg')).length;
    if (drawn) mark('first chart');
    if (drawn > window.__ablab.charts) {
      window.__ablab.charts = drawn;
      window.__ablab.marks['last chart'] = performance.now();
    }
  };
  // on each change of the page only: a requestAnimationFrame loop would make the browser draw
  // frames all along, which costs it as much CPU as the page itself
  const watch = () => new MutationObserver(look).observe(document.documentElement,
    {childList: true, subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
  if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();
"""


# The page's last element (the band caption, written after the last chart) is there and every
# chart has its canvas: then drawn() reads the Vega views once to confirm. Checked every 50 ms.
SETTLED = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].some(
    c => c.textContent.startsWith('Bands:'))
  && [...document.querySelectorAll('.vega-embed')].every(v => v.querySelector('canvas, svg'))"""


def drawn(page) -> bool:
    """Every chart on the page has a rendered Vega view with a plot area."""
    views = page.evaluate(VEGA_VIEWS)
    return bool(views) and all(v["found"] and (v["plotHeight"] or 0) > 0 for v in views)


class View:
    """One timed view: seconds until every chart is drawn, the page's marks, the bytes the
    server sent over the websocket, and the script's own sections (dashboard/laps.py)."""

    def __init__(self, seconds: float, marks: dict, ws_bytes: int, laps: list[tuple[str, float]], cpu: dict):
        self.seconds, self.marks, self.ws_bytes, self.laps, self.cpu = seconds, marks, ws_bytes, laps, cpu


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (every thread); 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_cpu(dashboard: int) -> dict[str, float]:
    """CPU seconds so far of this process's descendants but the dashboard, by Chromium's process
    type (renderer, gpu-process, ...; "browser" for the main one, "driver" for Playwright's): what
    the page costs the browser whatever else the machine runs, unlike the wall-clock marks."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    out: dict[str, float] = {}
    for pid in parent:
        chain, p = [], pid
        while p in parent and p != os.getpid() and p != dashboard:
            chain.append(p)
            p = parent[p]
        if p != os.getpid() or not chain:
            continue
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()  # Chromium rewrites it
        except OSError:
            continue
        if not args:  # a process ending between the two reads (a zombie has no command line)
            continue
        kinds = [a.decode().removeprefix("--type=") for a in args if a.startswith(b"--type=")]
        kind = kinds[0] if kinds else ("browser" if b"chrom" in args[0] else "driver")
        out[kind] = out.get(kind, 0.0) + cpu_seconds(pid)
    return out


def time_view(page, url: str, received: list[int], timings: Path, pid: int) -> View:
    """Seconds from navigation until the page's last element (the band caption, written after
    the last chart) is shown and every chart is drawn."""
    received.clear()
    timings.write_text("")
    server_cpu, before = cpu_seconds(pid), browser_cpu(pid)
    started = time.perf_counter()
    page.goto(url)
    while True:  # a cheap check in the page (Playwright's visibility polling costs the page layouts)
        page.wait_for_function(SETTLED, polling=50, timeout=120000)
        if drawn(page):
            break
        page.wait_for_timeout(20)
    seconds = time.perf_counter() - started
    marks = page.evaluate("window.__ablab.marks")
    laps = [(w, float(t)) for _, w, t in (line.split("\t") for line in timings.read_text().splitlines())]
    after = browser_cpu(pid)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    cpu["server"] = cpu_seconds(pid) - server_cpu
    return View(seconds, marks, sum(received), laps, cpu)


NAV = '[data-testid="stSidebarNavLink"][href$="{}"]'


def time_switch(page, received: list[int], timings: Path, pid: int) -> View:
    """A repeat view as a user gets it inside the app: from the Home page, a click on Results in
    the sidebar (no reload, so Streamlit's frontend is not booted again), until every chart is
    drawn. The study is the store's only one, so the link's ?study= is not needed."""
    page.click(NAV.format("/"))
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.textContent.includes('ablab'))")
    page.evaluate("window.__ablab.marks = {}; window.__ablab.charts = 0")
    received.clear()
    timings.write_text("")
    server_cpu, before = cpu_seconds(pid), browser_cpu(pid)
    started = time.perf_counter()
    clicked = page.evaluate("performance.now()")
    page.click(NAV.format("/results"))
    while True:
        page.wait_for_function(SETTLED, polling=50, timeout=120000)
        if drawn(page):
            break
        page.wait_for_timeout(20)
    seconds = time.perf_counter() - started
    marks = {k: v - clicked for k, v in page.evaluate("window.__ablab.marks").items()}
    laps = [(w, float(t)) for _, w, t in (line.split("\t") for line in timings.read_text().splitlines())]
    after = browser_cpu(pid)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    cpu["server"] = cpu_seconds(pid) - server_cpu
    return View(seconds, marks, sum(received), laps, cpu)


def browser_views(url: str, tmp: Path, repeats: int) -> tuple[View, list[View], list[View], int, float]:
    """(cold view, warm views by reload, warm views by a sidebar click, charts drawn, dashboard
    peak RSS MiB) for the Results page."""
    from playwright.sync_api import sync_playwright

    timings = tmp / "timings.tsv"
    proc, base = serve(url, str(tmp / "data"), timings)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.add_init_script(MARKS)
            received: list[int] = []
            page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
            page.goto(base)  # the app itself loaded once: cold means a cold results cache
            page.wait_for_selector("h1", timeout=60000)
            target = f"{base}/results?study=load"
            cold = time_view(page, target, received, timings, proc.pid)
            warm = [time_view(page, target, received, timings, proc.pid) for _ in range(repeats)]
            charts_drawn = len(page.evaluate(VEGA_VIEWS))
            switched = [time_switch(page, received, timings, proc.pid) for _ in range(repeats)]
            browser.close()
        rss = peak_rss_mib(proc.pid)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)
        try:  # the Streamlit server in the same group, if it outlived the CLI
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
    return cold, warm, switched, charts_drawn, rss


def print_breakdown(cold: View, warm: View, switch: View) -> None:
    """Where each view's time went: the script's sections (server), then the page's marks.
    Columns: first view, repeat by reload, repeat by a sidebar click (marks from the click)."""
    views = (cold, warm, switch)
    head = f"{'first':>7} {'reload':>7} {'switch':>7}"
    sections: dict[str, list[float]] = {}
    for which, view in enumerate(views):
        for what, t in view.laps:
            sections.setdefault(what, [0.0, 0.0, 0.0])[which] += t
    print(f"    {'server: script section':44} {head}")
    for what, ts in sections.items():
        print(f"    {what:44} " + " ".join(f"{t:7.3f}" for t in ts))
    print(f"    {'script total':44} " + " ".join(f"{sum(t for _, t in v.laps):7.3f}" for v in views))
    print(f"    {'browser: from navigation (or click), s':44} {head}")
    fmt = lambda m: f"{m / 1000:7.3f}" if m is not None else "      -"  # noqa: E731
    for name in ("title", "script running", "table", "first chart", "last chart", "script done"):
        print(f"    {name:44} " + " ".join(fmt(v.marks.get(name)) for v in views))
    print(f"    {'every chart drawn (the timed view)':44} " + " ".join(f"{v.seconds:7.3f}" for v in views))
    print(f"    {'websocket bytes received (KiB)':44} " + " ".join(f"{v.ws_bytes / 1024:7.0f}" for v in views))
    print(f"    {'CPU seconds, whatever the load':44} {head}")
    for name in ["server"] + sorted(set(cold.cpu) - {"server"}):
        label = "dashboard process" if name == "server" else f"browser: {name}"
        print(f"    {label:44} " + " ".join(f"{v.cpu.get(name, 0.0):7.3f}" for v in views))


def measure(url: str, n_runs: int, backend: str, tmp: Path, repeats: int, breakdown: bool, fill_store: bool) -> None:
    store = Store(url)
    rate = fill(store, n_runs) if fill_store else float("nan")
    shaped, table = python_side(store)
    cold, warm, switched, charts_drawn, rss = browser_views(url, tmp, repeats)
    median = sorted(warm, key=lambda v: v.seconds)[repeats // 2]
    switch = sorted(switched, key=lambda v: v.seconds)[repeats // 2]
    ok = {True: "OK", False: "SLOWER"}
    print(
        f"{backend:10} {n_runs:>7} runs | written {rate:6.0f} runs/s | python: curves {shaped:5.2f} s, "
        f"summary table {table:5.2f} s | browser ({charts_drawn} charts): first {cold.seconds:5.2f} s "
        f"(<= 3.00 {ok[cold.seconds <= 3]}), repeat by reload {median.seconds:5.2f} s (<= 1.50 "
        f"{ok[median.seconds <= 1.5]}), repeat by sidebar click {switch.seconds:5.2f} s | "
        f"dashboard peak RSS {rss:6.0f} MiB (< 1024 {ok[rss < 1024]})",
        flush=True,
    )
    if breakdown:
        print_breakdown(cold, median, switch)


def filled(url: str, n_runs: int) -> bool:
    """Whether the store at url already holds the benchmark's study of n_runs finished runs."""
    store = Store(url)
    if "load" not in store.study_names():
        return False
    counts = aggregates.run_counts(store, "load")
    return int(counts[counts["status"] == "done"]["runs"].sum()) == n_runs


def postgres_database(base: str, name: str) -> str:
    """base (postgresql+psycopg://user@host:port) + a database `name`, created if absent."""
    import psycopg
    import sqlalchemy as sa

    url = sa.engine.make_url(base)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname="postgres", autocommit=True
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="2000", help="comma-separated study sizes (default 2000)")
    parser.add_argument("--postgres", action="store_true", help="also measure a PostgreSQL store")
    parser.add_argument(
        "--postgres-url",
        help="with --postgres: a running server (postgresql+psycopg://user@host:port) whose databases load_N "
        "are kept and reused, instead of a new server for this run",
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeat views to time (the median is reported)")
    parser.add_argument("--breakdown", action="store_true", help="print where each view's time goes")
    parser.add_argument(
        "--store-dir", help="keep the SQLite stores here (load_N.sqlite) and reuse them: filled once, not each run"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="which of sqlite,postgresql to measure (default both)"
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.runs.split(",")]
    except ValueError:
        parser.error(f"--runs takes comma-separated whole numbers, such as 2000,20000; got {args.runs!r}")
    backends = args.backends.split(",")
    unknown = sorted(set(backends) - {"sqlite", "postgresql"})
    if unknown:
        parser.error(f"--backends: unknown {unknown[0]!r}; choose from sqlite, postgresql")
    if not Path(CHROMIUM).exists():
        print(f"needs chromium at {CHROMIUM} (apt-get install chromium, or set ABLAB_CHROMIUM)", file=sys.stderr)
        return 2
    server = None
    if args.postgres and args.postgres_url is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from postgres_server import PostgresServer, find_bin

        if find_bin() is None:
            parser.error("--postgres needs PostgreSQL's initdb and pg_ctl (apt-get install postgresql)")
        server = PostgresServer(find_bin()).start()
    try:
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(args.store_dir) if args.store_dir else Path(tmp)
                folder.mkdir(parents=True, exist_ok=True)
                urls = {}
                if "sqlite" in backends:
                    urls["sqlite"] = f"sqlite:///{folder / f'load_{n}.sqlite'}"
                if args.postgres and "postgresql" in backends:
                    urls["postgresql"] = (
                        postgres_database(args.postgres_url, f"load_{n}")
                        if args.postgres_url
                        else server.create_database(f"load_{n}")
                    )
                for backend, url in urls.items():
                    reuse = bool(args.store_dir or args.postgres_url) and filled(url, n)
                    measure(url, n, backend, Path(tmp), args.repeats, args.breakdown, not reuse)
    finally:
        if server is not None:
            server.stop()
    print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
