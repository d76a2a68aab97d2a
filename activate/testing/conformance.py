"""The destination conformance suite: the same end-to-end tests for every destination.

Each destination's test module subclasses `DestinationConformance` and provides a `target` fixture returning a
started `ConformanceTarget` (a simulator and the config pointing at it). The tests drive the real engine, the real
SDK and real HTTP: idempotent re-run, only changed rows sent, mirror deletes, partial failure, 429 storm, a
run killed mid-batch, (for targets that are also a `LinkingTarget`) associations between two syncs, and (for a
`FieldWritingTarget` whose destination supports it) `update: changed_fields` sending only the changed fields.

    class TestWebhookConformance(DestinationConformance):
        @pytest.fixture
        def target(self, tmp_path):
            target = WebhookConformanceTarget()
            target.start(tmp_path)
            yield target
            target.stop()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.config.models import DestinationSpec
from activate.destinations.registry import destination_plugin
from activate.testing.conformance_target import ConformanceTarget, FieldWritingTarget, LinkingTarget
from activate.testing.project import ScratchProject

ROWS = 40


def _expected(project: ScratchProject) -> dict[str, dict[str, str]]:
    rows = project.execute("select id, email, first_name from people order by id")
    return {str(r[0]): {"email": r[1], "first_name": r[2]} for r in rows}


def _compare(target: ConformanceTarget, project: ScratchProject) -> None:
    records = target.records()
    duplicates = sorted(k for k in records if "#" in k)
    assert not duplicates, f"duplicate records in the destination: {duplicates[:5]}"
    actual = {k: {"email": v.get("email"), "first_name": v.get("first_name")} for k, v in records.items()}
    assert actual == _expected(project)


class DestinationConformance:
    """Subclass and provide a `target` fixture."""

    rows = ROWS

    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[ConformanceTarget]:
        raise NotImplementedError("a conformance test module provides the `target` fixture")

    def project(self, tmp_path: Path, target: ConformanceTarget, mode: str) -> ScratchProject:
        project = ScratchProject(tmp_path / "project")
        project.people(self.rows)
        project.add_connection("dest", target.connection())
        project.add_sync("people_sync", {"connection": "dest", **target.destination(mode)})
        return project

    def _mode(self, target: ConformanceTarget, *preferred: str) -> str:
        for mode in preferred:
            if mode in target.modes:
                return mode
        pytest.skip(f"{target.name} supports none of {preferred}")

    def test_first_run_syncs_every_row_and_rerun_sends_nothing(self, tmp_path: Path, target: ConformanceTarget) -> None:
        project = self.project(tmp_path, target, self._mode(target, "upsert", "mirror"))
        first = project.run("people_sync")
        assert first.status == "succeeded", first.error
        assert first.rows_succeeded == self.rows
        _compare(target, project)
        calls = target.write_calls()
        second = project.run("people_sync")
        assert second.status == "succeeded"
        assert (second.rows_added, second.rows_changed, second.rows_succeeded) == (0, 0, 0)
        assert target.write_calls() == calls, "an unchanged re-run made write calls"
        assert second.api_calls == 0

    def test_only_changed_rows_are_sent(self, tmp_path: Path, target: ConformanceTarget) -> None:
        project = self.project(tmp_path, target, self._mode(target, "upsert", "mirror"))
        assert project.run("people_sync").status == "succeeded"
        project.execute("update people set first_name = 'Changed' || id where id in (3, 7, 11)")
        result = project.run("people_sync")
        assert result.status == "succeeded", result.error
        assert (result.rows_changed, result.rows_succeeded) == (3, 3)
        _compare(target, project)
        audit = project.reader().row_results(result.run_id)
        assert sorted(r["row_key"] for r in audit) == ["11", "3", "7"]

    def test_changed_fields_sends_only_what_changed(self, tmp_path: Path, target: ConformanceTarget) -> None:
        """`update: changed_fields`: each changed row is sent with only its changed fields and the match field (rows
        of one run carrying different fields), and the destination keeps every field that was not sent."""
        mode = self._mode(target, "upsert", "mirror")
        destination = {"connection": "dest", **target.destination(mode), "update": "changed_fields"}
        plugin = destination_plugin(str(target.connection()["type"]))
        assert plugin is not None
        reason = plugin.partial_updates(DestinationSpec.model_validate(destination))
        if reason is not None:
            pytest.skip(f"{target.name}: {reason}")
        if not isinstance(target, FieldWritingTarget):
            pytest.skip(f"{target.name} does not show the fields of its writes")
        project = ScratchProject(tmp_path / "project")
        project.people(self.rows)
        project.add_connection("dest", target.connection())
        project.add_sync("people_sync", destination)
        assert project.run("people_sync").status == "succeeded"
        before = len(target.written_fields())
        project.execute(
            "update people set first_name = 'Changed' || id where id in (3, 7)",
            "update people set email = 'moved' || id || '@example.com' where id = 11",
        )

        result = project.run("people_sync")

        assert result.status == "succeeded", result.error
        assert (result.rows_changed, result.rows_succeeded) == (3, 3)
        _compare(target, project)
        mapping = destination["mapping"]
        name_of = {str(source): field for field, source in mapping.items()}
        match = destination.get("match")
        keys = {str(match)} if match else set()
        sent = sorted((sorted(row) for row in target.written_fields()[before:]), key=str)
        assert sent == sorted(
            [
                sorted(keys | {name_of["first_name"]}),
                sorted(keys | {name_of["first_name"]}),
                sorted(keys | {name_of["email"]}),
            ],
            key=str,
        )

    def test_mirror_deletes_removed_rows(self, tmp_path: Path, target: ConformanceTarget) -> None:
        if "mirror" not in target.modes:
            pytest.skip(f"{target.name} has no mirror mode")
        project = self.project(tmp_path, target, "mirror")
        assert project.run("people_sync").status == "succeeded"
        project.execute("delete from people where id in (2, 5)")
        result = project.run("people_sync")
        assert result.status == "succeeded", result.error
        assert (result.rows_removed, result.rows_succeeded) == (2, 2)
        _compare(target, project)
        deletes = [r for r in project.reader().row_results(result.run_id) if r["operation"] == "delete"]
        assert sorted(r["row_key"] for r in deletes) == ["2", "5"]

    def test_partial_failure_rejects_only_bad_rows(self, tmp_path: Path, target: ConformanceTarget) -> None:
        project = self.project(tmp_path, target, self._mode(target, "upsert", "mirror"))
        target.reject({"person4@example.com", "person9@example.com"})
        result = project.run("people_sync")
        assert result.status == "partial"
        assert result.exit_code == 3
        assert (result.rows_succeeded, result.rows_rejected) == (self.rows - 2, 2)
        rejected = project.reader().row_results(result.run_id, ["rejected"])
        assert sorted(r["row_key"] for r in rejected) == ["4", "9"]
        assert all(r["error_code"] and r["error_message"] for r in rejected)
        calls = target.write_calls()
        again = project.run("people_sync")
        assert again.rows_succeeded + again.rows_rejected == 0, "unchanged rejected rows were re-sent"
        assert target.write_calls() == calls

    def test_rate_limit_storm_is_waited_out(self, tmp_path: Path, target: ConformanceTarget) -> None:
        project = self.project(tmp_path, target, self._mode(target, "upsert", "mirror"))
        target.storm(3, retry_after=1)
        result = project.run("people_sync")
        assert result.status == "succeeded", result.error
        assert result.rows_succeeded == self.rows
        assert result.throttled_seconds >= 1
        _compare(target, project)

    def test_run_killed_mid_batch_recovers_without_duplicates(self, tmp_path: Path, target: ConformanceTarget) -> None:
        project = self.project(tmp_path, target, self._mode(target, "upsert", "mirror"))
        target.slow(0.4)
        env = {**os.environ, "ACTIVATE_PROJECT_DIR": str(project.root)}
        child = subprocess.Popen(
            [sys.executable, "-m", "activate", "run", "people_sync", "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while target.write_calls() < 1 and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.02)
            assert target.write_calls() >= 1, "the run never reached the destination"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        target.slow(0.0)
        result = project.run("people_sync")
        assert result.status == "succeeded", result.error
        _compare(target, project)
        runs = {r["run_id"]: r["status"] for r in project.reader().runs("people_sync")}
        assert sorted(runs.values()) == ["aborted", "succeeded"]

    def test_associations_link_rows_to_another_syncs_records(self, tmp_path: Path, target: ConformanceTarget) -> None:
        """Rows linked to the records a `groups` sync wrote: all linked, an unchanged re-run makes no call, a moved
        row is re-linked (one removal, one creation), a mirror delete drops the row and its link."""
        if not isinstance(target, LinkingTarget) or "mirror" not in target.modes:
            pytest.skip(f"{target.name} has no associations")
        project = ScratchProject(tmp_path / "project")
        project.people(self.rows)
        project.execute(
            "create table groups as select i as group_id, 'Group ' || i as name from range(1, 6) r(i)",
            "alter table people add column group_id integer",
            "update people set group_id = id % 5 + 1",
        )
        project.add_connection("dest", target.connection())
        groups = {"connection": "dest", **target.group_destination()}
        project.add_sync("groups_sync", groups, query="select * from groups", primary_key="group_id")
        people = {**target.destination("mirror"), "associations": [target.association("groups_sync", "group_id")]}
        project.add_sync("people_sync", {"connection": "dest", **people})

        def run_all() -> list[str]:
            loaded = project.load()
            from activate.engine import RunOptions, run_sync

            return [run_sync(loaded, name, RunOptions()).status for name in loaded.run_order()]

        def expected() -> dict[str, set[str]]:
            return {str(r[0]): {str(r[1])} for r in project.execute("select id, group_id from people")}

        assert run_all() == ["succeeded", "succeeded"]
        assert target.links() == expected()
        calls = (target.write_calls(), target.link_calls())
        assert run_all() == ["succeeded", "succeeded"]
        assert (target.write_calls(), target.link_calls()) == calls, "an unchanged re-run made calls"
        project.execute("update people set group_id = 5 where id = 1", "delete from people where id = 2")
        assert run_all() == ["succeeded", "succeeded"]
        assert target.links() == expected()
        assert target.link_calls() - calls[1] == 2, "one removal call and one creation call"
