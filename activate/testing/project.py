"""A throwaway project for tests and benchmarks: a warehouse table `people`, a state store, sync files.

project = ScratchProject(tmp_path)
project.people(1000)
project.add_connection("hooks", {"type": "webhook", "url": sim.url})
project.add_sync("people_hook", {"connection": "hooks", "object": "people", "mode": "mirror", ...})
summary = project.run("people_hook")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from activate.clock import SYSTEM_CLOCK, Clock


class ScratchProject:
    """Writes `activate.yml` and `syncs/*.yml` (as JSON, which is YAML) and owns a warehouse."""

    def __init__(
        self,
        root: Path,
        *,
        state_url: str | None = None,
        warehouse_url: str | None = None,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "syncs").mkdir(exist_ok=True)
        self.state_url = state_url or f"duckdb:///{root / '.activate' / 'state.duckdb'}"
        self.warehouse_url = warehouse_url
        self.connections: dict[str, dict[str, Any]] = {}
        if warehouse_url is None:
            self.connections["warehouse"] = {"type": "duckdb", "path": "warehouse.duckdb"}
        else:
            self.connections["warehouse"] = {"type": "postgres", "url": warehouse_url}
        self.syncs: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {}
        """More top-level keys of activate.yml (`secrets:`, `alerts:`)."""

    # -- warehouse --------------------------------------------------------------------------------------------------

    def execute(self, *statements: str) -> list[tuple[Any, ...]]:
        """Run SQL on the warehouse; returns the last statement's rows."""
        rows: list[tuple[Any, ...]] = []
        if self.warehouse_url is None:
            import duckdb

            con = duckdb.connect(str(self.root / "warehouse.duckdb"))
            try:
                for statement in statements:
                    cursor = con.execute(statement)
                    rows = cursor.fetchall() if cursor.description else []
            finally:
                con.close()
            return rows
        import sqlalchemy as sa

        engine = sa.create_engine(self.warehouse_url)
        try:
            with engine.begin() as conn:
                for statement in statements:
                    outcome = conn.execute(sa.text(statement))
                    rows = [tuple(r) for r in outcome] if outcome.returns_rows else []
        finally:
            engine.dispose()
        return rows

    def people(self, count: int, *, table: str = "people") -> None:
        """(Re)create `people(id, email, first_name, last_name, score)` with `count` rows."""
        series = f"range(1, {count + 1}) r(i)" if self.warehouse_url is None else f"generate_series(1, {count}) as r(i)"
        self.execute(
            f"drop table if exists {table}",
            f"create table {table} (id integer primary key, email varchar(200), first_name varchar(100), "
            "last_name varchar(100), score double precision)",
            f"insert into {table} select i, 'person' || i || '@example.com', 'First' || i, 'Last' || i, "
            f"i * 1.5 from {series}",
        )

    # -- project files ----------------------------------------------------------------------------------------------

    def add_connection(self, name: str, spec: dict[str, Any]) -> None:
        self.connections[name] = spec
        self.write()

    def add_sync(
        self,
        name: str,
        destination: dict[str, Any],
        *,
        query: str = "select * from people",
        primary_key: str | list[str] = "id",
        **extra: Any,
    ) -> None:
        self.syncs[name] = {
            "name": name,
            "source": {"connection": "warehouse", "query": query, "primary_key": primary_key},
            "destination": destination,
            **extra,
        }
        self.write()

    def write(self) -> None:
        project = {"state": {"url": self.state_url}, "connections": self.connections, **self.settings}
        (self.root / "activate.yml").write_text(json.dumps(project, indent=2))
        for name, spec in self.syncs.items():
            (self.root / "syncs" / f"{name}.yml").write_text(json.dumps(spec, indent=2))

    # -- running ----------------------------------------------------------------------------------------------------

    def load(self) -> Any:
        from activate.config import load_project

        return load_project(self.root)

    def run(self, sync: str, *, clock: Clock = SYSTEM_CLOCK, **options: Any) -> Any:
        from activate.engine import RunOptions, run_sync

        return run_sync(self.load(), sync, RunOptions(**options), clock=clock)

    def plan(self, sync: str, **options: Any) -> Any:
        from activate.plan.builder import PlanOptions, build_plan
        from activate.state.store import StateReader

        project = self.load()
        reader = StateReader(project.spec.state.url, project_root=project.root)
        try:
            return build_plan(project, sync, reader, PlanOptions(**options))
        finally:
            reader.dispose()

    def reader(self) -> Any:
        from activate.state.store import StateReader

        return StateReader(self.state_url, project_root=self.root)
