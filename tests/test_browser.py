"""The dashboard in a real browser: Debian's chromium driven by Playwright.

Launches a tiny study from the Run page, waits for its results chart and saves a screenshot
of every page to test-artifacts/. Needs /usr/bin/chromium (apt-get install chromium); with
CI=true a missing browser fails the test instead of skipping it.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ABLAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser():
    missing = []
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium, or set ABLAB_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(tmp_path):
    require_browser()
    port = free_port()
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "ABLAB_STORE": f"sqlite:///{tmp_path / 'store.sqlite'}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablab.core.cli", "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the dashboard did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield f"http://127.0.0.1:{port}"
    os.killpg(proc.pid, 15)
    proc.wait(10)


def test_launch_a_study_and_see_its_results(dashboard):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(dashboard)
        expect(page.get_by_text("This store has no results yet")).to_be_visible(timeout=30000)
        page.screenshot(path=ARTIFACTS / "home-empty.png")

        page.goto(f"{dashboard}/run")
        steps = page.get_by_label("steps", exact=True)
        expect(steps).to_be_visible(timeout=30000)
        steps.fill("30")
        steps.press("Enter")
        seeds = page.get_by_label("seeds", exact=True)
        seeds.fill("2")
        seeds.press("Enter")
        expect(page.get_by_text("~", exact=False).first).to_be_visible(timeout=30000)
        expect(page.locator("[data-testid='stMetricValue']").nth(1)).to_have_text("6", timeout=30000)
        page.get_by_role("button", name="Launch").click()
        expect(page.get_by_text("6/6 runs")).to_be_visible(timeout=120000)
        page.screenshot(path=ARTIFACTS / "run.png")

        page.goto(f"{dashboard}/results?study=my-study")
        expect(page.get_by_text("Configurations (mean and 95% interval over seeds)")).to_be_visible(timeout=30000)
        # Streamlit mounts the charts one after another: wait for the fourth, not for a count.
        expect(page.locator(".vega-embed").nth(3)).to_be_visible(timeout=30000)
        page.screenshot(path=ARTIFACTS / "results.png", full_page=True)
        page.goto(f"{dashboard}/results?study=my-study&hl=cell%3Dlstm")  # a link that highlights the LSTM everywhere
        expect(page.locator(".vega-embed").nth(3)).to_be_visible(timeout=30000)
        expect(page.get_by_text("cell=lstm").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "results-highlight.png", full_page=True)

        page.goto(f"{dashboard}/review?study=my-study")
        expect(page.get_by_role("button", name="Save note")).to_be_visible(timeout=30000)
        with page.expect_download(timeout=60000) as download:
            page.get_by_role("button", name="Export HTML report").click()
        report = Path(download.value.path()).read_text()
        assert download.value.suggested_filename == "my-study-report.html" and report.count("<svg") >= 2

        for name in ("claims", "review", "plugins", "embeddings"):
            page.goto(f"{dashboard}/{name}")
            expect(page.locator("h1").first).to_be_visible(timeout=30000)
            page.wait_for_timeout(1500)
            page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        page.goto(dashboard)
        expect(page.get_by_text("Studies in this store")).to_be_visible(timeout=30000)
        page.screenshot(path=ARTIFACTS / "home.png")
        browser.close()
