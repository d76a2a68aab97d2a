"""Bulk API 2.0 ingest jobs of the simulated org.

A job follows Salesforce's lifecycle: created `Open`, CSV uploaded with `PUT .../batches` (201, at most 100 MB
per job), closed with `PATCH {"state": "UploadComplete"}`, then `InProgress` for `polls_to_complete - 1` status
polls and finally `JobComplete` (or `Failed` with `errorMessage`). The records are processed when the job is
closed, through the same `SalesforceOrg` validation as the REST API, so results are ready when the state says so.
Results are CSVs: `successfulResults` (`sf__Id`, `sf__Created`, original columns), `failedResults` (`sf__Id`,
`sf__Error`, original columns) and `unprocessedrecords` (original columns). Their order is not the upload order,
as Salesforce documents: a client must join them back by a key column, never by position.
"""

from __future__ import annotations

import csv
import io
import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from activate.testing.salesforce.org import Outcome, RecordError, SalesforceOrg

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}


class BulkRequestError(Exception):
    """A refused Bulk API request: HTTP status, Salesforce error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class IngestJob:
    """One ingest job and, once processed, its per-record results."""

    id: str
    object: str
    operation: str
    external_id_field: str | None
    column_delimiter: str
    line_ending: str
    api_version: str
    state: str = "Open"
    error_message: str | None = None
    uploads: list[bytes] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[tuple[list[str], str, bool]] = field(default_factory=list)
    failed: list[tuple[list[str], str, RecordError]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    final_state: str = "JobComplete"
    polls_left: int = 0
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"))

    def info(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": "0055g00000ActvUAAS",
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Ingest",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
            "numberRecordsProcessed": len(self.successful) + len(self.failed),
            "numberRecordsFailed": len(self.failed),
            "retries": 0,
            "totalProcessingTime": 0,
            "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
        }
        if self.external_id_field:
            body["externalIdFieldName"] = self.external_id_field
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


@dataclass
class BulkIngest:
    """The org's ingest jobs. `fail_next_jobs` makes that many next jobs end `Failed` without processing rows;
    `shuffle_results` (default on) returns result rows out of upload order, as Salesforce may."""

    org: SalesforceOrg
    polls_to_complete: int = 2
    fail_next_jobs: int = 0
    shuffle_results: bool = True
    jobs: dict[str, IngestJob] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def create(self, body: dict[str, Any], api_version: str) -> IngestJob:
        sobject = str(body.get("object") or "")
        operation = str(body.get("operation") or "")
        schema = self.org.schema(sobject)
        if schema is None:
            raise BulkRequestError(400, "INVALIDJOB", f"InvalidJob : Invalid object: {sobject}")
        if operation not in {"insert", "upsert", "update", "delete", "hardDelete"}:
            raise BulkRequestError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external:
                raise BulkRequestError(400, "INVALIDJOB", "InvalidJob : External ID was blank for upsert")
            spec = schema.fields.get(str(external))
            if spec is None or not (spec.external_id or spec.name == "Id"):
                raise BulkRequestError(
                    400, "INVALIDJOB", f"InvalidJob : Field name provided, {external} is not an External ID or indexed"
                )
        if body.get("contentType", "CSV") != "CSV":
            raise BulkRequestError(400, "INVALIDJOB", "InvalidJob : only CSV content is supported")
        with self._lock:
            job_id = f"7505g{next(self._ids):010d}AAA"
            job = IngestJob(
                id=job_id,
                object=sobject,
                operation=operation,
                external_id_field=str(external) if external else None,
                column_delimiter=str(body.get("columnDelimiter") or "COMMA"),
                line_ending=str(body.get("lineEnding") or "LF"),
                api_version=api_version,
            )
            self.jobs[job_id] = job
        return job

    def job(self, job_id: str) -> IngestJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise BulkRequestError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def upload(self, job_id: str, data: bytes) -> None:
        job = self.job(job_id)
        if job.state != "Open":
            raise BulkRequestError(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for data upload: {job.state}")
        if job.uploads:
            raise BulkRequestError(409, "INVALIDJOBSTATE", "Data was already uploaded for this job")
        if len(data) > MAX_UPLOAD_BYTES:
            raise BulkRequestError(400, "INVALIDJOB", "InvalidJob : the uploaded data exceeds 100 MB")
        job.uploads.append(data)

    def set_state(self, job_id: str, state: str) -> IngestJob:
        job = self.job(job_id)
        if state == "Aborted":
            if job.state in {"JobComplete", "Failed"}:
                raise BulkRequestError(409, "INVALIDJOBSTATE", f"Job {job_id} is already {job.state}")
            job.state = job.final_state = "Aborted"
            return job
        if state != "UploadComplete":
            raise BulkRequestError(400, "INVALIDJOBSTATE", f"Invalid state transition to {state}")
        if job.state != "Open":
            raise BulkRequestError(409, "INVALIDJOBSTATE", f"Job {job_id} is not Open: {job.state}")
        job.state = "UploadComplete"
        self._process(job)
        job.polls_left = max(0, self.polls_to_complete - 1)
        return job

    def poll(self, job_id: str) -> dict[str, Any]:
        job = self.job(job_id)
        if job.state in {"UploadComplete", "InProgress"}:
            if job.polls_left > 0:
                job.polls_left -= 1
                job.state = "InProgress"
            else:
                job.state = job.final_state
        return job.info()

    def results(self, job_id: str, kind: str) -> str:
        job = self.job(job_id)
        if job.state not in {"JobComplete", "Failed", "Aborted"}:
            raise BulkRequestError(409, "INVALIDJOBSTATE", f"Job {job_id} is not complete: {job.state}")
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        kind = kind.lower()
        if kind == "successfulresults":
            writer.writerow(["sf__Id", "sf__Created", *job.header])
            rows: list[list[str]] = [[rid, "true" if made else "false", *vals] for vals, rid, made in job.successful]
        elif kind == "failedresults":
            writer.writerow(["sf__Id", "sf__Error", *job.header])
            rows = [[rid, err.as_bulk(), *vals] for vals, rid, err in job.failed]
        else:
            writer.writerow(job.header)
            rows = list(job.unprocessed)
        if self.shuffle_results:
            rows = rows[1::2] + rows[0::2]
        writer.writerows(rows)
        return out.getvalue() if (rows or job.header) else ""

    def _process(self, job: IngestJob) -> None:
        text = b"".join(job.uploads).decode("utf-8")
        delimiter = _DELIMITERS.get(job.column_delimiter, ",")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [r for r in reader if r]
        if not rows:
            job.final_state, job.error_message = "Failed", "InvalidBatch : Empty CSV file"
            return
        job.header, body = rows[0], rows[1:]
        with self._lock:
            injected = self.fail_next_jobs > 0
            if injected:
                self.fail_next_jobs -= 1
        schema = self.org.objects[job.object]
        unknown = [p for p in (self.org.column_problem(schema, name) for name in job.header) if p]
        if injected or unknown:
            job.final_state = "Failed"
            job.error_message = (
                "InternalServerError : job processing failed (injected)" if injected else f"InvalidBatch : {unknown[0]}"
            )
            job.unprocessed = body
            return
        duplicates = (
            self.org.duplicate_external_ids(
                job.external_id_field, (dict(zip(job.header, r, strict=False)) for r in body)
            )
            if job.external_id_field
            else set()
        )
        for cells in body:
            values = {name: _cell(cell) for name, cell in zip(job.header, cells, strict=False) if cell != ""}
            if job.external_id_field and str(values.get(job.external_id_field, "")) in duplicates:
                key = values[job.external_id_field]
                error = RecordError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {key}")
                job.failed.append((cells, "", error))
                continue
            outcome = self._write(job, values)
            if outcome.error is None:
                job.successful.append((cells, outcome.id or "", outcome.created))
            else:
                job.failed.append((cells, outcome.id or "", outcome.error))

    def _write(self, job: IngestJob, values: dict[str, Any]) -> Outcome:
        if job.operation == "insert":
            return self.org.create(job.object, values)
        if job.operation == "upsert":
            return self.org.upsert(job.object, job.external_id_field or "Id", values)
        if job.operation == "update":
            return self.org.update(job.object, values)
        return self.org.delete(str(values.get("Id", "")))


def _cell(cell: str) -> Any:
    """A CSV cell as Bulk API reads it: `#N/A` sets the field to null."""
    return None if cell == "#N/A" else cell
