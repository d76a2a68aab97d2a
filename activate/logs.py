"""Structured logs: stdlib `logging` under the `activate` logger, one JSON object per line when asked for.

The engine logs `run.started`, `batch.recorded` and `run.finished` at INFO with `run_id`, `sync`, `batch` and
`counts` as record attributes (`log_event`). Nothing leaves a handler installed here unmasked: every project that
runs registers its `SecretMasker` (`remember_secrets`), and both formatters pass the whole rendered line through
every registered masker, so a token that slipped into an error message is still `***` in the logs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activate.config.secrets import SecretMasker

LOGGER = "activate"
FORMAT_ENV = "ACTIVATE_LOG_FORMAT"
FIELDS = ("run_id", "sync", "batch", "counts", "status", "failure_kind")

log = logging.getLogger(LOGGER)

_maskers: list[SecretMasker] = []
_maskers_lock = threading.Lock()


def remember_secrets(masker: SecretMasker) -> None:
    """Mask this project's secrets in every log line from now on (a process usually loads one project)."""
    with _maskers_lock:
        if not any(m is masker for m in _maskers):
            _maskers.append(masker)


def mask(text: str) -> str:
    """`text` with the secrets of every project that ran in this process replaced by `***`."""
    with _maskers_lock:
        maskers = list(_maskers)
    for masker in maskers:
        text = masker.mask(text)
    return text


def log_event(
    event: str,
    message: str,
    *,
    run_id: str,
    sync: str,
    batch: int | None = None,
    counts: dict[str, int] | None = None,
    status: str | None = None,
    failure_kind: str | None = None,
    level: int = logging.INFO,
) -> None:
    """Log one engine event; cheap when nobody listens (the batch path calls it once per recorded batch)."""
    if not log.isEnabledFor(level):
        return
    extra: dict[str, Any] = {"event": event, "run_id": run_id, "sync": sync}
    if batch is not None:
        extra["batch"] = batch
    if counts is not None:
        extra["counts"] = counts
    if status is not None:
        extra["status"] = status
        extra["failure_kind"] = failure_kind
    log.log(level, message, extra=extra)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, message and whichever of run_id, sync, batch, counts the
    record carries; an exception goes in `exc`. The serialized line is masked as a whole."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", record.name),
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return mask(json.dumps(entry, default=str))


class MaskedTextFormatter(logging.Formatter):
    """The default human format, masked like the JSON one; a record about a sync's run names the sync (and run)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        sync = getattr(record, "sync", None)
        if sync is not None:
            run_id = getattr(record, "run_id", None)
            text = f"[{sync}{' ' + run_id if run_id else ''}] {text}"
        return mask(text)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted: test runners swap it per invocation, and a
    handler bound to a swapped-out (closed) stream would fail every later log call."""

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        return None


def configure(
    log_format: str | None = None, *, stream: IO[str] | None = None, log_file: str | os.PathLike[str] | None = None
) -> logging.Handler:
    """Install the CLI's handler on the `activate` logger and return it.

    `json` (or env ACTIVATE_LOG_FORMAT=json): INFO and above as JSON lines. Otherwise quiet text: warnings only.
    Output goes to stderr so `--json` results on stdout stay machine-readable. Calling it again replaces the
    handlers it installed before (tests and the scheduler configure more than once per process). `log_file` also
    appends every INFO-and-above record to that file, in the same format (a record of the run to read later).
    """
    chosen = (log_format or os.environ.get(FORMAT_ENV) or "text").lower()
    for old in [h for h in log.handlers if h.get_name() == "activate-file"]:
        log.removeHandler(old)
        old.close()
    file_handler: logging.Handler | None = None
    if log_file is not None:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.set_name("activate-file")
        file_handler.setFormatter(
            JsonFormatter() if chosen == "json" else MaskedTextFormatter("%(asctime)s %(levelname)s %(message)s")
        )
        file_handler.setLevel(logging.INFO)
        log.addHandler(file_handler)
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name("activate-cli")
    if chosen == "json":
        handler.setFormatter(JsonFormatter())
        level = logging.INFO
    else:
        handler.setFormatter(MaskedTextFormatter("%(levelname)s %(name)s: %(message)s"))
        level = logging.WARNING
    for old in [h for h in log.handlers if h.get_name() == "activate-cli"]:
        log.removeHandler(old)
    handler.setLevel(level)
    log.addHandler(handler)
    log.setLevel(logging.INFO if file_handler is not None else level)
    return handler
