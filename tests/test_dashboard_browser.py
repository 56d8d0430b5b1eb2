"""The dashboard in a real browser (Debian's Chromium driven by Playwright), offline.

The server is started as a user would (``secsim dashboard``) on a free loopback
port and stopped by its process id. Every request the page makes is checked:
one to a host other than 127.0.0.1 fails the test (and is blocked), as does an
HTTP error or an error in the page. The test also writes the README's
screenshot (docs/dashboard.png), so it stays current.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .conftest import ROOT, SCENARIOS

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip(
        "Chromium is not installed (make test installs it as root; or run "
        "apt-get install --no-install-recommends chromium fonts-dejavu-core)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, Route, sync_playwright  # noqa: E402

SCREENSHOT = ROOT / "docs" / "dashboard.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    # One simulated day, so that finishing the run and re-running the saved file is quick.
    scenario = tmp_path / "one_day.yaml"
    scenario.write_text(
        f"extends: {SCENARIOS / 'baseline.yaml'}\nrun: {{days: 1, warmup_days: 0}}\n"
    )
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "dashboard", str(scenario), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the server did not start: {(tmp_path / 'server.log').read_text()}"
                    ) from None
                time.sleep(0.5)
        yield url, scenario
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - the point is that it stops
            proc.kill()
            proc.wait()
            raise AssertionError("the server did not stop on SIGTERM") from None
        log.close()


def _text(page: Page, css: str) -> list[str]:
    return [t.strip() for t in page.locator(css).all_inner_texts()]


def _map_src(page: Page) -> str:
    # The first Matplotlib image of the main area is the map.
    return str(page.locator("main img").first.get_attribute("src"))


def test_dashboard_in_a_browser(server: tuple[str, Path], tmp_path: Path) -> None:
    url, scenario = server
    off_machine: list[str] = []
    http_errors: list[str] = []
    page_errors: list[str] = []

    def guard(route: Route) -> None:
        if urlparse(route.request.url).hostname not in ("127.0.0.1", None):
            off_machine.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    experiment = tmp_path / "two_arms.yaml"
    experiment.write_text(
        "name: two_arms\nreference: baseline\narms:\n"
        f"  baseline: {{scenario: {SCENARIOS / 'baseline.yaml'}}}\n"
        f"  transfer: {{scenario: {SCENARIOS / 'competence_transfer.yaml'}}}\n"
        "replicates: 2\nseed: 3\ndays: 1\nwarmup_days: 0\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "batch",
            str(experiment),
            "--workers",
            "1",
            "--out",
            str(tmp_path / "results" / "two_arms"),
            "--quiet",
        ],
        check=True,
        timeout=300,
    )

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        context.route("**/*", guard)
        page = context.new_page()
        page.on("response", lambda r: r.status >= 400 and http_errors.append(f"{r.status} {r.url}"))
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.goto(url)

        # The map and the curves appear, with the clock at the start.
        page.get_by_text("Clock: day 1 (Mon) 00:00").wait_for(timeout=60_000)
        page.locator("main img").nth(1).wait_for(timeout=30_000)
        assert page.get_by_text("pm_centre: 85 officers").count() == 1

        # Step advances the clock by an hour and redraws the map.
        before = _map_src(page)
        for hour in range(1, 11):
            page.get_by_role("button", name="Step", exact=True).click()
            page.get_by_text(f"Clock: day 1 (Mon) {hour:02d}:00").wait_for(timeout=30_000)
        page.wait_for_function(
            "src => document.querySelector('main img').getAttribute('src') !== src", arg=before
        )
        assert _map_src(page) != before
        page.screenshot(path=str(SCREENSHOT))

        # A lever: doubling the municipal officers of the centre doubles the count shown.
        slider = page.locator(".v-input", has_text="pm_centre: officers").locator("[role=slider]")
        assert slider.get_attribute("aria-valuenow") == "85"
        slider.focus()
        for _ in range(85):
            page.keyboard.press("ArrowRight")
        assert slider.get_attribute("aria-valuenow") == "170"
        page.wait_for_timeout(1000)  # the slider sends its value when the keys are released
        page.get_by_role("button", name="Reset", exact=True).click()
        page.get_by_text("pm_centre: 170 officers").wait_for(timeout=60_000)
        page.get_by_text("Clock: day 1 (Mon) 00:00").wait_for(timeout=30_000)

        # Finish the run, save the scenario, and run the saved file from the command line.
        page.get_by_role("button", name="Finish the run").click()
        result = page.locator(".secsim-result")
        result.wait_for(timeout=120_000)
        shown = result.inner_text()
        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile("Save scenario")).click()
        saved = tmp_path / "saved.yaml"
        download.value.save_as(saved)

        # Compare the original with the edited copy: one day, three paired replicates.
        page.get_by_role("tab", name="Page 1").click()
        page.get_by_role("button", name="Compare", exact=True).wait_for(timeout=30_000)
        for name in ("Horizon (days)", "Replicates"):
            control = page.locator(".v-input", has_text=name).locator("[role=slider]")
            control.focus()
            page.keyboard.press("Home")
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Compare", exact=True).click()
        compared = page.locator(".secsim-compared")
        compared.wait_for(timeout=180_000)
        assert compared.inner_text() == (
            "Compared: A = one_day, B = one_day edited; 3 paired replicates."
        )
        assert page.get_by_text(re.compile(r"^cost: commune \(M EUR a year\): A ")).count() == 1

        # Results: the batch store made above, under the server's results/ folder.
        page.get_by_role("tab", name="Page 2").click()
        store = page.locator(".secsim-store")
        store.wait_for(timeout=60_000)
        assert store.inner_text().startswith("two_arms: 4 runs, reference arm baseline.")
        browser.close()

    text = saved.read_text()
    assert f"extends: {scenario.resolve()}" in text
    assert "officers: 170" in text
    out = tmp_path / "cli"
    subprocess.run(
        [sys.executable, "-m", "simulator", "run", str(saved), "--out", str(out), "--quiet"],
        check=True,
        timeout=300,
    )
    summary = json.loads((out / "summary.json").read_text())
    response = summary["response_min"]
    assert shown == (
        f"Run finished: {summary['calls']['total']} calls, "
        f"{summary['calls']['answered']} answered, "
        f"mean response {response['mean']:.2f} min, p90 {response['p90']:.2f} min"
    )
    assert off_machine == []
    assert http_errors == []
    assert page_errors == []
