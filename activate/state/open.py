"""`open_state_store`: the state store a run of a sync records into."""

from __future__ import annotations

from typing import TYPE_CHECKING

from activate.errors import UsageError
from activate.sources.config import DuckDBConnection
from activate.state.store import StateStore
from activate.warehouse.target import native_target, open_session

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project


def open_state_store(project: Project, sync: LoadedSync, run_id: str | None = None) -> StateStore:
    """The store a run of `sync` records into: the project's, with the per-row state in the warehouse when the
    sync says `state: warehouse`.
    """
    from activate.state.warehouse import WarehouseState, WarehouseStateStore
    from activate.warehouse.snowflake import query_tag

    url = project.spec.state.url
    target = native_target(project, sync)
    if target is None or not target.separate_state:
        return StateStore(url, project_root=project.root)
    if isinstance(target.connection, DuckDBConnection) and target.connection.read_only:
        raise UsageError(f"sync '{sync.name}' has state: warehouse, but its DuckDB warehouse is opened read_only")
    tag = query_tag(sync.name, run_id)
    warehouse = WarehouseState(lambda: open_session(target, project.root, tag), target)
    return WarehouseStateStore(url, project_root=project.root, warehouse=warehouse)
