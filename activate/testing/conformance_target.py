"""What a destination's simulator offers the conformance suite (`activate.testing.conformance`).

The suite syncs a DuckDB table `people(id INTEGER primary key, email VARCHAR, first_name VARCHAR,
last_name VARCHAR, score DOUBLE)` into the destination through the real engine, the real SDK and real HTTP, and
checks the destination through this interface: idempotent re-run, only changed rows sent, mirror deletes, partial
failure, 429 storm, crash mid-batch; a target that is also a `LinkingTarget` gets the associations case, and one
that is a `FieldWritingTarget` the partial-update case (`update: changed_fields`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class ConformanceTarget(Protocol):
    """A running simulator plus the sync configuration that points at it."""

    name: str
    modes: frozenset[str]  # the sync modes the destination supports

    def start(self, workdir: Path) -> None:
        """Start the simulator (in-process, on an ephemeral port); `workdir` may hold certificates."""
        ...

    def stop(self) -> None: ...

    def connection(self) -> dict[str, Any]:
        """The `activate.yml` connection entry (type, url/base_url, credentials) for the running simulator."""
        ...

    def destination(self, mode: str) -> dict[str, Any]:
        """The sync's `destination:` section (without `connection`) writing `people` in this mode.

        The mapping must carry `id`, `email` and `first_name` so `records()` can report them.
        """
        ...

    def records(self) -> dict[str, dict[str, Any]]:
        """What the destination holds now: `{str(id): {"email": ..., "first_name": ...}}`, one entry per record
        (two records for the same id must show up as a duplicate: return them under `"<id>#2"`)."""
        ...

    def write_calls(self) -> int:
        """How many write requests (create/update/upsert/delete/post) the simulator has answered so far."""
        ...

    def reject(self, emails: set[str]) -> None:
        """From now on, refuse rows whose email is in `emails` as invalid data (a per-record rejection)."""
        ...

    def storm(self, requests: int, retry_after: int) -> None:
        """Answer the next `requests` requests with the vendor's 429 and `Retry-After: retry_after`."""
        ...

    def slow(self, seconds: float) -> None:
        """Delay every answer by `seconds` (so a test can kill a run mid-batch)."""
        ...


@runtime_checkable
class LinkingTarget(Protocol):
    """A conformance target whose destination links records across syncs (`destination.associations`)."""

    def group_destination(self) -> dict[str, Any]:
        """The destination (without `connection`) of a sync writing `groups(group_id, name)` rows, the records
        people rows link to."""
        ...

    def association(self, sync: str, key: str) -> dict[str, Any]:
        """One `destination.associations` entry linking people rows to the records of `sync` by column `key`."""
        ...

    def links(self) -> dict[str, set[str]]:
        """people row key -> the group keys its record is linked to, read from the destination."""
        ...

    def link_calls(self) -> int:
        """Association requests that reached the destination."""
        ...


@runtime_checkable
class FieldWritingTarget(Protocol):
    """A conformance target that can show what each write carried, so the suite can check partial updates."""

    def written_fields(self) -> list[dict[str, Any]]:
        """Every row the simulator was sent in a create/update/upsert request so far, in arrival order: destination
        field -> value as sent (only the fields the request carried for that row; the match field included)."""
        ...
