"""Bulk API 2.0 ingest: one job per write (more only past 100 MB of CSV), results joined back by External ID.

Steps, each one request through the ApiCaller: create the job (`externalIdFieldName` for upserts), upload the CSV
(`PUT .../batches`), close it (`UploadComplete`), poll its state with growing pauses through the clock until
`JobComplete`/`Failed`/`Aborted`, then read `successfulResults`, `failedResults` and `unprocessedrecords`.
Salesforce does not keep upload order in those CSVs, so every result row is joined to its row by the External ID
column (unique within a job: the writer never puts two rows with one value in the same job). A row the job
reports nowhere is `failed`, never assumed written.

simple-salesforce's `sf.bulk2.<SObject>.upsert()` polls with `time.sleep` on its own schedule and hides the
per-row results behind another call; we drive its `_Bulk2Client` request by request instead, so waiting goes
through our clock and every request through our limiter, retry policy and quota budget.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from activate.destinations.base import RowOp, RowResult, RowStatus
from activate.destinations.encoding import plain_number
from activate.destinations.salesforce.errors import bulk_verdict
from activate.destinations.salesforce.rest import lookup_field, match_text
from activate.http.errors import TerminalError, TransientError

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce

    from activate.clock import Clock

T = TypeVar("T")
# One call through the ApiCaller with the current client: (request, idempotent) -> its value.
Call = Callable[[Callable[["Salesforce"], T], bool], T]

MAX_JOB_BYTES = 100 * 1024 * 1024 - 1024 * 1024  # Salesforce's 100 MB per job, less a margin (as the SDK does)
MAX_JOB_ROWS = 150_000_000
POLL_FIRST = 0.5
POLL_FACTOR = 2.0
POLL_CAP = 10.0
_FINAL = frozenset({"JobComplete", "Failed", "Aborted"})


@dataclass(frozen=True)
class BulkTarget:
    """What the job writes: the sObject and the External ID field results are joined by."""

    sobject: str
    external_field: str


def csv_cell(value: Any) -> str:
    """A field value as Bulk API reads it: `#N/A` sets null (an empty cell would leave the field unchanged).

    Salesforce's "Valid CSV Record Rows": empty field values are ignored on update; `#N/A` sets a field to null.
    So a CSV cannot carry an empty string: a source `""` is sent as `#N/A` too. Nothing is lost, since Salesforce
    saves an empty text value as null through every API (a REST `""` reads back as null as well).
    """
    if value is None or value == "":
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def csv_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A row's fields as Bulk columns. A null `Relationship.ExternalIdField` reference clears the lookup field itself
    (`AccountId` for `Account`), as the Collections record does: `#N/A` is documented to null a field, not to
    resolve a reference to no parent, so the relationship column is not trusted with it."""
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        relationship, dot, _ = name.partition(".")
        if dot and (value is None or value == ""):
            columns[lookup_field(relationship)] = None
        else:
            columns[name] = value
    return columns


def csv_parts(
    target: BulkTarget, rows: Sequence[RowOp], payloads: Mapping[str, Mapping[str, Any]]
) -> Iterator[tuple[list[RowOp], str]]:
    """The rows as CSV documents of at most MAX_JOB_BYTES / MAX_JOB_ROWS each (usually exactly one).

    The header is the union of the rows' fields. Rows of a partial update carry different fields: a cell of a
    field its row does not carry stays empty, which Bulk API 2.0 reads as "leave unchanged" (`#N/A` clears).
    """
    columns = [target.external_field] + sorted(
        {name for row in rows for name in payloads[row.key] if name != target.external_field}
    )
    header = _csv_line(columns)
    part: list[RowOp] = []
    lines: list[str] = [header]
    size = len(header.encode())
    for row in rows:
        fields = payloads[row.key]
        cells = [match_text(fields.get(target.external_field))]
        cells += [csv_cell(fields[name]) if name in fields else "" for name in columns[1:]]
        line = _csv_line(cells)
        line_size = len(line.encode())
        if part and (size + line_size > MAX_JOB_BYTES or len(part) >= MAX_JOB_ROWS):
            yield part, "".join(lines)
            part, lines, size = [], [header], len(header.encode())
        part.append(row)
        lines.append(line)
        size += line_size
    if part:
        yield part, "".join(lines)


def _csv_line(cells: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


class BulkIngestJob:
    """Runs one ingest job for rows of one operation and records a result per row into `sink`."""

    def __init__(self, target: BulkTarget, call: Call[Any], clock: Clock, poll_timeout: float) -> None:
        self.target = target
        self.call = call
        self.clock = clock
        self.poll_timeout = poll_timeout
        self.polls = 0

    def run(
        self, operation: str, rows: Sequence[RowOp], document: str, attempts: int, sink: dict[str, RowResult]
    ) -> None:
        external = self.target.external_field if operation == "upsert" else None
        job = self.call(
            lambda sf: _client(sf, self.target.sobject).create_job(operation, external_id_field=external), True
        )
        job_id = str(job["id"])
        try:
            self.call(lambda sf: _client(sf, self.target.sobject).upload_job_data(job_id, document), False)
        except (TransientError, TerminalError) as exc:
            self._abort(job_id)
            _fail_all(rows, sink, "BULK_UPLOAD_FAILED", f"uploading job {job_id} failed: {exc.message}", attempts)
            return
        self._close(job_id)
        info = self._wait(job_id)
        if info["state"] not in _FINAL:
            self._abort(job_id)
            message = f"job {job_id} still {info['state']} after {self.poll_timeout:.0f}s; aborted"
            _fail_all(rows, sink, "BULK_TIMEOUT", message, attempts)
            return
        self._collect(job_id, info, rows, attempts, sink)

    def _close(self, job_id: str) -> None:
        try:
            self.call(lambda sf: _client(sf, self.target.sobject).close_job(job_id), True)
        except TerminalError:
            # A retried close whose first attempt went through is refused (the job is no longer Open): fine.
            state = self.call(lambda sf: _client(sf, self.target.sobject).get_job(job_id, False), True)["state"]
            if state == "Open":
                raise

    def _wait(self, job_id: str) -> dict[str, Any]:
        deadline = self.clock.monotonic() + self.poll_timeout
        pause = POLL_FIRST
        while True:
            self.clock.sleep(pause)
            self.polls += 1
            info: dict[str, Any] = dict(
                self.call(lambda sf: _client(sf, self.target.sobject).get_job(job_id, False), True)
            )
            if info.get("state") in _FINAL or self.clock.monotonic() >= deadline:
                return info
            pause = min(pause * POLL_FACTOR, POLL_CAP)

    def _abort(self, job_id: str) -> None:
        # Best effort: an unaborted Open job expires on its own, and its rows were never processed.
        with contextlib.suppress(TransientError, TerminalError):
            self.call(lambda sf: _client(sf, self.target.sobject).abort_job(job_id, False), True)

    def _collect(
        self, job_id: str, info: Mapping[str, Any], rows: Sequence[RowOp], attempts: int, sink: dict[str, RowResult]
    ) -> None:
        by_value = {match_text(row.match_value): row.key for row in rows}
        seen: set[str] = set()

        def each(kind: str) -> Iterator[tuple[str, dict[str, str]]]:
            text: str = self.call(lambda sf: _client(sf, self.target.sobject).get_ingest_results(job_id, kind), True)
            for result in csv.DictReader(io.StringIO(text)):
                key = by_value.get(result.get(self.target.external_field, ""))
                if key is not None and key not in seen:
                    seen.add(key)
                    yield key, result

        for key, result in each("successfulResults"):
            sink[key] = RowResult.ok(key, result.get("sf__Id") or None, attempts=attempts)
        for key, result in each("failedResults"):
            sink[key] = bulk_verdict(key, result.get("sf__Error", ""), attempts)
        why = info.get("errorMessage") or f"job {job_id} ended {info.get('state')}"
        for key, _ in each("unprocessedrecords"):
            sink[key] = RowResult.failed(key, "BULK_UNPROCESSED", f"not processed: {why}", attempts)
        missing = [row for row in rows if row.key not in seen]
        _fail_all(missing, sink, "BULK_NO_RESULT", f"job {job_id} reported no result for this row ({why})", attempts)


def _fail_all(rows: Sequence[RowOp], sink: dict[str, RowResult], code: str, message: str, attempts: int) -> None:
    for row in rows:
        sink[row.key] = RowResult(row.key, RowStatus.FAILED, None, code, message, attempts)


def _client(sf: Salesforce, sobject: str) -> Any:
    from simple_salesforce.bulk2 import _Bulk2Client

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sf.session_id}", "X-PrettyPrint": "1"}
    return _Bulk2Client(sobject, sf.bulk2_url, headers, sf.session)
