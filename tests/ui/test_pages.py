"""The audit's pages over real HTTP: content, filters, paging, escaping, and that nothing can be written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from activate.testing.project import ScratchProject
from activate.ui import AuditServer

pytestmark = pytest.mark.slow


def get(server: AuditServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server.url + path, params=params, timeout=10)


def test_overview_lists_each_sync_with_its_last_run(server: AuditServer) -> None:
    page = get(server, "/")
    assert page.status_code == 200
    assert '<a href="/syncs/people_hook">people_hook</a>' in page.text
    assert "partial" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_sync_page_plots_each_run(server: AuditServer, audited: tuple[ScratchProject, list[Any]]) -> None:
    _, summaries = audited
    page = get(server, "/syncs/people_hook")
    assert page.status_code == 200
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="plot"') == 4
    for summary in summaries:
        assert summary.run_id in page.text
    # the first run sent 290 rows and had 10 rejected: its stacked column says so on hover
    assert "succeeded 290, failed 0, rejected 10, skipped 0" in page.text


def test_run_page_filters_by_status_and_code_and_pages(
    server: AuditServer, audited: tuple[ScratchProject, list[Any]]
) -> None:
    first = audited[1][0]
    everything = get(server, f"/runs/{first.run_id[:18]}")  # a unique prefix is enough
    assert everything.status_code == 200
    assert "300 rows · page 1 of 6" in everything.text
    rejected = get(server, f"/runs/{first.run_id}", status="rejected")
    assert "10 rows · page 1 of 1" in rejected.text
    assert rejected.text.count('<span class="status rejected">') == 10
    last_page = get(server, f"/runs/{first.run_id}", page=6)
    assert "page 6 of 6" in last_page.text
    assert 'rel="prev"' in last_page.text
    assert 'rel="next"' not in last_page.text
    by_key = get(server, f"/runs/{first.run_id}", key="29")
    assert "rows · page 1 of 1" in by_key.text
    assert "/rows/29" in by_key.text
    assert '/rows/30"' not in by_key.text


def test_row_page_tells_the_rows_story(server: AuditServer, audited: tuple[ScratchProject, list[Any]]) -> None:
    held = get(server, "/syncs/people_hook/rows/3")
    assert held.status_code == 200
    assert "Held back" in held.text
    assert "held back: rejected REJECTED in run" in held.text  # the next run's action, as `activate explain` says
    assert "person3@example.com" in held.text  # its current source values
    synced = get(server, "/syncs/people_hook/rows/42")
    assert "destination id" in synced.text
    assert "Not held back." in synced.text
    # row 14 changed in the first run (14 % 7 == 0) only, after being added in it: one result, in that run
    history = get(server, "/syncs/people_hook/rows/14").text
    assert audited[1][0].run_id in history
    assert audited[1][1].run_id not in history
    missing = get(server, "/syncs/people_hook/rows/99999")
    assert "Not synced" in missing.text
    assert "No run has touched this row." in missing.text


def test_unknown_pages_are_404_and_values_are_escaped(server: AuditServer) -> None:
    assert get(server, "/syncs/nope").status_code == 404
    assert get(server, "/runs/nope").status_code == 404
    page = get(server, "/syncs/<img src=x onerror=alert(1)>")
    assert page.status_code == 404
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


def test_nothing_can_be_written_and_foreign_hosts_are_refused(server: AuditServer) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert httpx.request(method, server.url + "/", timeout=10).status_code == 405
    assert httpx.get(server.url + "/", headers={"Host": "attacker.example"}, timeout=10).status_code == 403
