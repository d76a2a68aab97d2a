"""`validate` checks what `plan` would before any row is read: each sync's query is described (its result columns,
through `LIMIT 0`, never its rows) and the mapping, templates, key and match are checked against those columns.

Describing needs the warehouse. A local file (DuckDB, SQLite) is always described when it exists; a networked
warehouse (Postgres, Snowflake) only with `--check-connections`, so plain `validate` stays an offline check that CI
can run without credentials. A sync that could not be described is said so (`skipped`), never passed silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from activate.errors import ActivateError, ConfigError, ConfigIssue

if TYPE_CHECKING:
    from activate.config import Project

LOCAL_SOURCES = ("duckdb", "sqlite")


@dataclass
class Preflight:
    """What describing the queries found: config issues (exit 2), failures to reach or run a source (exit 1), and
    syncs whose columns were not checked, with why."""

    issues: list[ConfigIssue] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def preflight(project: Project, names: list[str], *, connect: bool) -> Preflight:
    """Describe the query of each sync in `names` and check its columns; `connect` allows networked warehouses."""
    from activate.plan.builder import check_columns
    from activate.sources.readers import open_reader

    found = Preflight()
    for name in names:
        sync = project.sync(name)
        connection = project.connection(sync.spec.source.connection)
        where = sync.where("source")
        kind = getattr(connection, "type", "?")
        if kind not in LOCAL_SOURCES and not connect:
            found.skipped.append(f"{name}: columns not checked ({kind} source; --check-connections describes it)")
            continue
        path = getattr(connection, "path", None)
        if kind in LOCAL_SOURCES and path != ":memory:" and not _local_file(project.root, str(path)).exists():
            message = f"{name}: columns not checked (warehouse file {path} does not exist)"
            (found.failures if connect else found.skipped).append(f"{where}: {message}" if connect else message)
            continue
        try:
            reader = open_reader(connection, project.root)
            try:
                columns = reader.columns(sync.query)
            finally:
                reader.close()
            check_columns(sync, columns, project.root)
        except ConfigError as exc:
            found.issues.extend(exc.issues)
        except ActivateError as exc:
            reason = project.secrets.mask(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
            found.failures.append(f"{where}: {name}: source connection '{sync.spec.source.connection}': {reason}")
    return found


def _local_file(root: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate
