"""Results page with a store of 2,000 runs, timed in a real browser: from navigation until every
chart on the page is drawn, cold (first view after the dashboard starts) and warm (a repeat).

    python benchmarks/dashboard_load.py [--runs 2000] [--repeats 3]

Targets (issue 15): at most 3 s cold and 1.5 s warm on 2 cores. Needs /usr/bin/chromium (or
ABLAB_CHROMIUM) and playwright. The Python side alone (load + curves + chart specs) is printed
too, to tell the server's share from the browser's.
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

from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry
from ablab.dashboard import charts
from ablab.dashboard.data import curves, default_facet, load_study

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


def fill(store: Store, n_runs: int) -> None:
    registry = build_registry(entry_points=False)
    seeds = list(range(max(1, n_runs // 20)))
    study = parse_study(STUDY.format(seeds=seeds), "load.toml", registry)
    runs = study.runs(registry)
    store.save_study(study, runs)
    rng = np.random.default_rng(0)
    for r in runs:
        steps = range(0, 300, 10)
        metrics = [
            {"step": s, "name": n, "value": float(rng.random())}
            for s in steps
            for n in ("loss", "grad_norm", "clipped")
        ]
        probes = [
            {
                "step": s,
                "probe": "grad_through_time",
                "name": "norm",
                "layer": 0,
                "idx": k,
                "value": float(rng.random()),
            }
            for s in (0, 300)
            for k in range(10)
        ]
        store.write_run(r.key, "done", seconds=1.0, metrics=metrics, probes=probes)


def python_side(store: Store) -> tuple[float, float]:
    """(load, curves + specs) seconds: the server's work for one first view."""
    started = time.perf_counter()
    data = load_study(store, "load")
    loaded = time.perf_counter() - started
    runs, metrics = data["runs"], data["metrics"]
    facet = default_facet(runs)
    started = time.perf_counter()
    for name in ("loss", "grad_norm"):
        frame = curves(metrics[metrics["name"] == name], runs, facet=facet)
        charts.band_chart(frame, x_title="step", y_title=name, title=name).to_dict()
    return loaded, time.perf_counter() - started


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="warm views to time (the median is reported)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"needs chromium at {CHROMIUM} (apt-get install chromium, or set ABLAB_CHROMIUM)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'load.sqlite'}"
        store = Store(url)
        started = time.perf_counter()
        fill(store, args.runs)
        print(f"filled a store with {args.runs} runs in {time.perf_counter() - started:.1f} s")
        loaded, shaped = python_side(store)
        print(f"python side, first view: load {loaded:.2f} s + curves and chart specs {shaped:.2f} s")
        proc, base = serve(url, str(Path(tmp) / "data"))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 3000})
                page.goto(base)  # the app itself loaded once: cold means a cold results cache
                page.wait_for_selector("h1", timeout=60000)
                target = f"{base}/results?study=load"
                cold = time_view(page, target)
                warm = sorted(time_view(page, target) for _ in range(args.repeats))[args.repeats // 2]
                charts_drawn = len(page.evaluate(VEGA_VIEWS))
                browser.close()
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(10)
            try:  # the Streamlit server in the same group, if it outlived the CLI
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
    print(
        f"browser, {charts_drawn} charts drawn: cold {cold:.2f} s (target <= 3.00 s) {'OK' if cold <= 3 else 'SLOWER'}"
    )
    print(
        f"browser, warm (median of {args.repeats}): {warm:.2f} s (target <= 1.50 s) {'OK' if warm <= 1.5 else 'SLOWER'}"
    )
    print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
