"""The audit in a real headless Chromium (Debian's `chromium`, driven by Playwright): every page loads without a
console error, the history plot is drawn, and a screenshot of each page is taken.

Required under CI (`.ci/run` installs chromium when missing); skipped with a reason elsewhere when Chromium or
Playwright is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activate.testing.project import ScratchProject
from activate.ui import AuditServer

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    found = os.environ.get("ACTIVATE_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required under CI (apt-get install -y chromium)")
        pytest.skip("no Chromium on this machine (apt-get install -y chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    if os.environ.get("CI"):
        from playwright.sync_api import sync_playwright
    else:
        sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
        sync_playwright = sync_api.sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def visit(browser: Any, url: str, shot: Path) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    response = page.goto(url, wait_until="load")
    assert response is not None, url
    assert response.status == 200, url
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000
    return page, problems


def test_every_page_renders_without_console_errors(
    browser: Any, server: AuditServer, audited: tuple[ScratchProject, list[Any]], tmp_path: Path
) -> None:
    first = audited[1][0]

    page, problems = visit(browser, server.url + "/", tmp_path / "overview.png")
    page.click("text=people_hook")
    page.wait_for_url("**/syncs/people_hook")
    # the stacked history plot is drawn: one column group per run, with painted bars of non-zero size
    columns = page.locator("svg.plot").first.locator("g rect")
    assert columns.count() >= 3 * 2  # succeeded + rejected in each of three runs
    box = columns.first.bounding_box()
    assert box is not None
    assert box["width"] > 1
    assert box["height"] > 1
    page.screenshot(path=str(tmp_path / "sync.png"), full_page=True)
    page.close()

    page, more = visit(browser, f"{server.url}/runs/{first.run_id}", tmp_path / "run.png")
    problems += more
    page.select_option("select[name=status]", "rejected")
    page.click("button[type=submit]")
    page.wait_for_url("**status=rejected**")
    assert page.locator("#count").inner_text().startswith("10 rows")
    assert page.locator("#rows tbody tr").count() == 10
    page.screenshot(path=str(tmp_path / "run-rejected.png"), full_page=True)
    page.locator("#rows tbody a").first.click()
    page.wait_for_url("**/syncs/people_hook/rows/**")
    assert "Held back" in page.content()
    page.screenshot(path=str(tmp_path / "row.png"), full_page=True)
    page.close()

    assert problems == []


def test_the_demo_project_through_the_real_command(browser: Any, tmp_path: Path) -> None:
    """`activate demo`, then `activate ui` as a user starts it: every page of the demo's audit loads cleanly."""
    directory = tmp_path / "demo"
    demo = subprocess.run(
        [sys.executable, "-m", "activate", "demo", "--dir", str(directory)], capture_output=True, text=True, timeout=300
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr
    server = subprocess.Popen(
        [sys.executable, "-m", "activate", "ui", "-p", str(directory), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert found is not None, banner
        url = found.group(0)
        page, problems = visit(browser, url + "/", tmp_path / "demo-overview.png")
        for sync in ("hubspot_contacts", "salesforce_contacts", "slack_churn_alerts", "webhook_customers"):
            assert page.locator(f"#syncs a[href='/syncs/{sync}']").count() == 1
        page.click("text=webhook_customers")
        page.wait_for_url("**/syncs/webhook_customers")
        assert page.locator("svg.plot").count() == 4
        assert page.locator("svg.plot").first.locator("g rect").count() >= 2  # two demo runs, each a column
        page.locator("#runs tbody a").first.click()  # the newest run: the demo's second
        page.wait_for_url("**/runs/**")
        page.select_option("select[name=status]", "succeeded")
        page.click("button[type=submit]")
        page.wait_for_url("**status=succeeded**")
        assert page.locator("#rows tbody tr").count() >= 3  # the three edited customers (and the mirror's delete)
        page.goto(page.url.replace("status=succeeded", "status=rejected"))  # the demo rejects nothing
        assert page.locator("#count").inner_text().startswith("0 rows")
        page.goto(url + "/syncs/webhook_customers/rows/3")
        assert "Next run" in page.content()
        assert "Katherine" in page.content()  # the demo renamed customer 3: the source values show it
        page.screenshot(path=str(tmp_path / "demo-row.png"), full_page=True)
        page.close()
        assert problems == []
    finally:
        server.terminate()
        server.wait(timeout=30)
