"""The dashboard in a real browser: Debian's chromium driven by Playwright.

Builds the mission's study (24 configurations) on the Run page, launches it, reads every chart
of its results from the rendered Vega views and saves a screenshot of every page to
test-artifacts/. Needs /usr/bin/chromium (apt-get install chromium); with
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
    try:  # the Streamlit server in the same group, if it outlived the CLI (once seen in a full run)
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass


VEGA_VIEWS = (Path(__file__).resolve().parent / "vega_views.js").read_text()


def drawn_views(page, at_least: int) -> list[dict]:
    """The page's Vega views once at least `at_least` charts have a rendered plot: Streamlit mounts
    charts one by one, after the text around them, so wait for the views, never count early."""
    ready = f"() => {{ const v = ({VEGA_VIEWS.strip()})(); "
    ready += f"return v.length >= {at_least} && v.every(x => x.found && x.plotHeight > 0) ? v : null; }}"
    return page.wait_for_function(ready, timeout=60000, polling=250).json_value()


def add_option(page, label: str, option: str) -> None:
    """Pick one option of a Streamlit multiselect by its exact name."""
    box = page.locator("[data-testid='stMultiSelect']").filter(has_text=label)
    box.locator("input").click()
    box.locator("input").fill(option)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def set_number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def test_the_mission_study_from_the_form_reads_at_24_configurations(dashboard):
    """3 cells x ReLU/tanh x clipping none/norm x 2 initialisers = 24 configurations, built and
    launched from the Run form; then every chart of its results, read from the rendered Vega views."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    started = time.perf_counter()

    def mark(what: str) -> None:  # where the test's time goes, printed (never asserted)
        print(f"{time.perf_counter() - started:6.1f} s  {what}")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(dashboard)
        expect(page.get_by_text("This store has no results yet")).to_be_visible(timeout=30000)
        page.screenshot(path=ARTIFACTS / "home-empty.png")

        page.goto(f"{dashboard}/run")
        expect(page.get_by_label("steps", exact=True)).to_be_visible(timeout=30000)
        # Sizes first: each model shape is timed once for the estimate, so set them before the axes.
        set_number(page, "hidden units", 8)
        set_number(page, "seeds", 2)
        set_number(page, "steps", 10)
        set_number(page, "probe every (steps)", 5)
        add_option(page, "Activation of the cells", "relu")
        add_option(page, "Activation of the cells", "tanh")
        add_option(page, "Clipping (an axis)", "norm")
        add_option(page, "Recurrent initialisers", "normal")
        metric = page.locator("[data-testid='stMetricValue']")
        expect(metric.nth(0)).to_have_text("24", timeout=60000)
        expect(metric.nth(1)).to_have_text("48", timeout=60000)
        expect(metric.nth(2)).to_contain_text("~", timeout=120000)
        estimate = metric.nth(2).inner_text()
        mark("form filled")
        page.get_by_role("button", name="Launch").click()
        expect(page.get_by_role("button", name="Stop")).to_be_visible(timeout=30000)
        expect(page.get_by_role("button", name="Launch")).to_be_disabled()
        expect(page.get_by_text("48/48 runs")).to_be_visible(timeout=240000)
        expect(page.get_by_text("Finished in")).to_be_visible(timeout=30000)
        print(f"estimate {estimate}; {page.get_by_text('Finished in').inner_text()}")
        expect(page.get_by_role("button", name="Launch")).to_be_enabled()
        page.screenshot(path=ARTIFACTS / "run.png", full_page=True)
        mark("study ran")

        page.set_viewport_size({"width": 1400, "height": 6000})  # Streamlit scrolls inside: a tall window shows all
        page.goto(f"{dashboard}/results?study=my-study")
        # The band caption is written after the last chart: wait for it, never for a count.
        expect(page.get_by_text("Bands:")).to_be_visible(timeout=60000)
        views = drawn_views(page, 7)  # loss, gradient norm, 4 probes, gradient through time
        page.screenshot(path=ARTIFACTS / "results.png")
        mark("results drawn")
        assert len(views) >= 4 and all(v["found"] for v in views), views
        for v in views:
            assert v["plotHeight"] >= 150 and v["plotWidth"] >= 150, v  # never a collapsed plot
            assert v["boxHeight"] >= v["plotHeight"] and v["boxWidth"] > 0, v
            pairs = [(colour, dash) for _, colour, dash in v["series"]]
            assert len(set(pairs)) == len(pairs), v  # no two series share colour and dash
        faceted = [v for v in views if v["faceted"]]
        assert faceted and all(len(v["series"]) == 8 for v in faceted)  # 24 = 3 cells x 8 series each
        with page.expect_download(timeout=60000) as download:  # a chart's CSV, made when clicked
            page.get_by_role("button", name="Download CSV").nth(1).click()
        rows = Path(download.value.path()).read_text().splitlines()
        assert download.value.suggested_filename == "my-study-loss.csv" and rows[0].startswith("x,n,mean,lo,hi")
        assert len(rows) > 24, rows[:3]  # every configuration's curve

        page.goto(f"{dashboard}/results?study=my-study&facet=none")  # all 24 in one chart, from the link
        expect(page.get_by_text("Bands:")).to_be_visible(timeout=60000)
        views = drawn_views(page, 7)
        widest = max(views, key=lambda v: len(v["series"]))
        pairs = {(colour, dash) for _, colour, dash in widest["series"]}
        assert len(widest["series"]) == 24 and len(pairs) == 24 and widest["plotHeight"] >= 150
        page.screenshot(path=ARTIFACTS / "results-24-in-one.png")
        mark("24 in one chart")

        page.goto(f"{dashboard}/runs?study=my-study")
        expect(page.get_by_text("Configuration", exact=True).first).to_be_visible(timeout=30000)
        expect(page.locator(".vega-embed").first).to_be_visible(timeout=30000)
        page.screenshot(path=ARTIFACTS / "runs.png")
        mark("runs page")

        page.set_viewport_size({"width": 1400, "height": 1600})
        page.goto(f"{dashboard}/review?study=my-study")
        expect(page.get_by_role("button", name="Save note")).to_be_visible(timeout=30000)
        with page.expect_download(timeout=60000) as download:
            page.get_by_role("button", name="Export HTML report").click()
        report = Path(download.value.path()).read_text()
        assert download.value.suggested_filename == "my-study-report.html" and report.count("<svg") >= 2
        (ARTIFACTS / "report.html").write_text(report)
        mark("report exported")

        for name in ("claims", "review", "plugins", "embeddings"):
            page.goto(f"{dashboard}/{name}")
            expect(page.locator("h1").first).to_be_visible(timeout=30000)
            page.wait_for_timeout(1500)
            page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        page.goto(dashboard)
        expect(page.get_by_text("Studies in this store")).to_be_visible(timeout=30000)
        page.screenshot(path=ARTIFACTS / "home.png")

        dark = browser.new_page(viewport={"width": 1400, "height": 1600}, color_scheme="dark")  # the OS's dark mode
        dark.goto(f"{dashboard}/embeddings")
        fills = {fill for v in drawn_views(dark, 2) for fill in v.get("textFills", [])}
        assert fills == {"#fafafa"}, fills  # the PCA word labels in the dark theme's text colour
        dark.screenshot(path=ARTIFACTS / "embeddings-dark.png")
        mark("every page")
        browser.close()


def pick(page, label: str, option) -> None:
    """Choose an option of a Streamlit selectbox (option: its exact text or a compiled regex),
    once the page's script has finished: a dropdown opened mid-run closes when its widget is
    redrawn, and a rerun may show the previous widget beside the new one."""
    import time

    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    idle = page.locator("[data-testid='stApp'][data-test-script-state='notRunning']")
    box = page.locator("[data-testid='stSelectbox']").filter(has_text=label)
    wanted = page.get_by_role("option", name=option, exact=isinstance(option, str))
    deadline = time.monotonic() + 60
    while True:  # a redraw between the click on the box and the option closes the dropdown: open it again
        expect(idle).to_have_count(1, timeout=60000)
        expect(box).to_have_count(1, timeout=30000)
        box.click()
        try:
            wanted.click(timeout=5000)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")


def query(url: str) -> dict:
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(url).query)


def test_the_address_bar_follows_each_choice_at_once_and_nothing_leaves_the_machine(dashboard, tmp_path):
    """A link copied right after a choice reopens that view: the address bar is read as soon as
    the chosen view shows, never after another widget change. Every page, offline: no request
    goes anywhere but the dashboard's own server (the page icon was fetched from Google)."""
    import re
    from urllib.parse import urlparse

    from dashboard_helpers import two_studies
    from playwright.sync_api import expect, sync_playwright

    two_studies(f"sqlite:///{tmp_path / 'store.sqlite'}")  # the store the dashboard fixture serves
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        outside = []
        page.on(
            "request",
            lambda r: r.url.startswith("data:") or urlparse(r.url).hostname == "127.0.0.1" or outside.append(r.url),
        )

        # Results: a filter made on one study must not follow the reader to the next one
        page.goto(f"{dashboard}/results?study=cells&f.model.cell=rnn")
        expect(page.get_by_text("6 runs")).to_be_visible(timeout=60000)
        pick(page, "Study", "rates")
        expect(page.get_by_text("· 8 runs")).to_be_visible(timeout=30000)  # the new study's view
        assert query(page.url) == {"study": ["rates"]}, page.url
        pick(page, "Highlight in every chart", "cell=gru, lr=0.01")
        expect(page).to_have_url(re.compile(r"\?study=rates&hl=cell%3Dgru%2C\+lr%3D0\.01$"), timeout=10000)

        # Runs: the configuration, the run and the study, each in the link as soon as it shows
        page.goto(f"{dashboard}/runs?study=cells")
        expect(page.get_by_text('"cell": "lstm"')).to_be_visible(timeout=60000)  # the first configuration
        pick(page, "Configuration", "cell=rnn")
        expect(page.get_by_text('"cell": "rnn"')).to_be_visible(timeout=30000)
        assert query(page.url) == {"study": ["cells"], "config": ["cell=rnn"]}, page.url
        pick(page, "Run", re.compile(r"^seed 10 "))
        expect(page).to_have_url(re.compile(r"seed=10"), timeout=10000)
        pick(page, "Study", "rates")
        expect(page.get_by_text('"lr": 0.01')).to_be_visible(timeout=30000)
        assert query(page.url) == {"study": ["rates"]}, page.url

        for name in ("", "results", "runs", "compare", "claims", "run", "review", "embeddings", "plugins"):
            page.goto(f"{dashboard}/{name}")
            expect(page.locator("h1").first).to_be_visible(timeout=30000)
            page.wait_for_timeout(1000)  # late requests: icons, fonts, charts
        browser.close()
    assert outside == [], outside
