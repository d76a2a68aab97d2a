"""The core lifecycle (all sent, then nothing, 3 edits -> 3 sent, mirror 2 deletes) with the diff in the warehouse.

Snowflake (through fakesnow's server mode, reached by the real connector through host/port/protocol) with local
and with warehouse-native state; DuckDB and Postgres warehouses with `state: warehouse`. The destination is the
HubSpot simulator over real HTTP through the real SDK.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakesnow
import pytest

from activate.testing.hubspot.conformance import HubSpotConformanceTarget
from activate.testing.project import ScratchProject

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

# Taken at collection: calling `fakesnow.server()` imports the `fakesnow.server` submodule, which then replaces the
# function of the same name on the package, so a second test module would find a module there.
SERVE = fakesnow.server

ROWS = 120
SNOWFLAKE_MAPPING = {"activate_id": "ID", "email": "EMAIL", "firstname": "FIRST_NAME"}


@pytest.fixture
def target(tmp_path: Path) -> Iterator[HubSpotConformanceTarget]:
    target = HubSpotConformanceTarget()
    target.start(tmp_path)
    yield target
    target.stop()


@pytest.fixture(scope="module")
def fakesnow_server() -> Iterator[dict[str, Any]]:
    with SERVE() as kwargs:
        yield kwargs


class SnowflakeWarehouse:
    """A schema in fakesnow's server, reached through the real connector."""

    def __init__(self, server: dict[str, Any], database: str) -> None:
        import snowflake.connector

        self.server = server
        self.database = database
        self.con = snowflake.connector.connect(**server)
        self.execute(f"CREATE DATABASE IF NOT EXISTS {database}", f"CREATE SCHEMA IF NOT EXISTS {database}.public")

    def execute(self, *statements: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        cursor = self.con.cursor()
        for statement in statements:
            cursor.execute(statement)
            rows = list(cursor.fetchall()) if cursor.description else []
        cursor.close()
        return rows

    def people(self, count: int) -> None:
        self.execute(
            f"CREATE OR REPLACE TABLE {self.database}.public.people "
            "(id INTEGER, email VARCHAR, first_name VARCHAR, last_name VARCHAR, score FLOAT)",
            f"INSERT INTO {self.database}.public.people SELECT seq4() + 1, "
            "'person' || (seq4() + 1) || '@example.com', 'First' || (seq4() + 1), 'Last' || (seq4() + 1), "
            f"(seq4() + 1) * 1.5 FROM TABLE(GENERATOR(ROWCOUNT => {count}))",
        )

    def connection(self) -> dict[str, Any]:
        s = self.server
        return {
            "type": "snowflake",
            "account": s["account"],
            "user": s["user"],
            "password": s["password"],
            "host": s["host"],
            "port": s["port"],
            "protocol": s["protocol"],
            "database": self.database,
            "schema": "public",
            "network_timeout": 20,
        }


def _snowflake_project(root: Path, server: dict[str, Any], target: HubSpotConformanceTarget, state: str):
    warehouse = SnowflakeWarehouse(server, "db_" + re.sub(r"\W", "_", root.parent.name)[-20:] + "_" + state)
    warehouse.people(ROWS)
    project = ScratchProject(root)
    project.connections["warehouse"] = warehouse.connection()
    project.add_connection("dest", target.connection())
    destination = {"connection": "dest", **target.destination("mirror"), "mapping": SNOWFLAKE_MAPPING}
    project.add_sync("people_sync", destination, query="select * from people", primary_key="ID", state=state)
    return project, warehouse


def _lifecycle(project: ScratchProject, target: HubSpotConformanceTarget, execute: Any, caplog: Any) -> None:
    first = project.run("people_sync")
    assert first.status == "succeeded", first.error
    assert (first.rows_added, first.rows_succeeded) == (ROWS, ROWS)
    calls = target.write_calls()
    assert calls == 2, "120 rows go out as two HubSpot batch upserts of 100 and 20"

    second = project.run("people_sync")
    assert (second.status, second.rows_unchanged, second.rows_succeeded, second.api_calls) == ("succeeded", ROWS, 0, 0)
    assert target.write_calls() == calls

    execute("update people set first_name = 'Changed' || id where id in (3, 7, 11)")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="activate.diff.native"):
        third = project.run("people_sync")
    assert third.status == "succeeded", third.error
    assert (third.rows_changed, third.rows_succeeded) == (3, 3)
    assert target.write_calls() == calls + 1
    assert sorted(r["row_key"] for r in project.reader().row_results(third.run_id)) == ["11", "3", "7"]
    fetched = [r.getMessage() for r in caplog.records if "fetched" in r.getMessage()]
    if project.load().syncs["people_sync"].spec.state == "warehouse":
        assert fetched, "the native diff logs what it fetched"
        assert " fetched 3 rows to write" in fetched[-1], fetched

    execute("delete from people where id in (2, 5)")
    fourth = project.run("people_sync")
    assert fourth.status == "succeeded", fourth.error
    assert (fourth.rows_removed, fourth.rows_succeeded) == (2, 2)
    deletes = [r for r in project.reader().row_results(fourth.run_id) if r["operation"] == "delete"]
    assert sorted(r["row_key"] for r in deletes) == ["2", "5"]

    records = target.records()
    assert sorted(records, key=int) == [str(i) for i in range(1, ROWS + 1) if i not in (2, 5)]
    assert records["7"]["first_name"] == "Changed7"
    assert records["8"] == {"email": "person8@example.com", "first_name": "First8"}


@pytest.mark.parametrize("state", ["local", "warehouse"])
def test_snowflake_source_lifecycle(
    tmp_path: Path, fakesnow_server: dict[str, Any], target: HubSpotConformanceTarget, state: str, caplog: Any
) -> None:
    project, warehouse = _snowflake_project(tmp_path / "p", fakesnow_server, target, state)

    def execute(sql: str) -> None:
        warehouse.execute(f"use schema {warehouse.database}.public", sql)

    _lifecycle(project, target, execute, caplog)
    if state == "warehouse":
        synced = warehouse.execute(
            f"select count(*) from {warehouse.database}.activate.activate_state where sync_name = 'people_sync'"
        )
        assert synced == [(ROWS - 2,)], "the per-row state lives in the warehouse's `activate` schema"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_project(
    request: pytest.FixtureRequest, tmp_path: Path, target: HubSpotConformanceTarget
) -> ScratchProject:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    project = ScratchProject(tmp_path / "p", warehouse_url=url)
    project.people(ROWS)
    project.add_connection("dest", target.connection())
    project.add_sync("people_sync", {"connection": "dest", **target.destination("mirror")}, state="warehouse")
    return project


def test_warehouse_native_lifecycle(
    warehouse_project: ScratchProject, target: HubSpotConformanceTarget, caplog: Any
) -> None:
    project = warehouse_project
    _lifecycle(project, target, lambda sql: project.execute(sql), caplog)
    assert project.execute("select count(*) from activate.activate_state") == [(ROWS - 2,)]
    # runs and row results stay in the project's state store
    assert len(project.reader().runs("people_sync")) == 4
