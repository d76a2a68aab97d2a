"""The CLI's one error boundary: every command's failure becomes one line naming what failed and the likely fix.

Every command of the app runs inside `BoundaryGroup.invoke`, so no exception reaches a user as a traceback, also
from code paths nobody anticipated; the traceback shows only with ACTIVATE_DEBUG=1. Under `--json` the line is one
JSON object `{"type": "error", "error": ...}` on stderr (the command's console decides the form).

Exit codes follow DESIGN §3: the error's own `exit_code` for activate errors (2 for config and usage), 2 for a
database URL that cannot be used (it is configuration), 130 for Ctrl-C, 1 for everything else.

Exceptions of drivers (SQLAlchemy, DuckDB, httpx) are recognised only when their module is already imported (an
exception of a module never loaded cannot occur), so the boundary adds nothing to `--help`'s start-up.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typer.core import TyperGroup

if TYPE_CHECKING:
    from activate.cli.console import Console

DEBUG_VARIABLE = "ACTIVATE_DEBUG"
current_console: ContextVar[Console | None] = ContextVar("current_console", default=None)
"""The console of the command being run (set by `make_console`), so the boundary answers in the command's form."""

_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)
_DAMAGED = re.compile(
    r"not a valid DuckDB database|Could not read enough bytes|checksum|corrupt|Serialization Error|"
    r"INTERNAL Error.*(?:block|storage)|database file .* is (?:damaged|truncated)",
    re.IGNORECASE,
)
_QUOTED_FILE = re.compile(r'(?:file|database) "?([^"\s]+\.(?:duckdb|db))"?', re.IGNORECASE)
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (\S+) \(PID (\d+)\)", re.IGNORECASE)


def reset_advice() -> str:
    """What to do with a damaged state file, naming the command the user typed."""
    from activate.program import command

    return (
        f"restore it from a backup, or move it aside and re-sync with `{command('run SYNC --full-resync')}`: every "
        "row is re-sent once, idempotently by external id"
    )


@dataclass(frozen=True)
class Failure:
    """What the user sees: one line, and the exit code."""

    message: str
    exit_code: int = 1


class BoundaryGroup(TyperGroup):
    """The app's command group: runs each command inside the error boundary."""

    def invoke(self, ctx: Any) -> Any:
        token = current_console.set(None)  # a console of an earlier command in this process is not this one's
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            if _passes_through(exc) or os.environ.get(DEBUG_VARIABLE) == "1":
                raise
            failure = describe(exc)
            report(failure.message)
            sys.exit(failure.exit_code)
        finally:
            current_console.reset(token)


def report(message: str) -> None:
    """Print `message` as the current command's error line (JSON under `--json`)."""
    console = current_console.get()
    if console is None:
        from activate.cli.console import RichConsole

        console = RichConsole()
    console.error(message)


def _passes_through(exc: BaseException) -> bool:
    """Exits and usage errors of Typer/Click (already worded for the user), and the interpreter's own exits."""
    if isinstance(exc, SystemExit | GeneratorExit):
        return True
    return type(exc).__module__.split(".")[0] in ("typer", "click")


def describe(exc: BaseException) -> Failure:
    """The one line and exit code for `exc`, most specific first; an unknown exception is named as a bug."""
    from activate.errors import ActivateError

    if isinstance(exc, ActivateError):
        text = str(exc)
        return Failure(text if exc.exit_code == 2 else _one_line(text), exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return Failure("interrupted", 130)
    for recognise in (_sqlalchemy_failure, _duckdb_failure, _httpx_failure, _os_failure):
        found = recognise(exc)
        if found is not None:
            return Failure(_scrub(found.message), found.exit_code)
    name = type(exc).__name__
    return Failure(
        _scrub(
            f"unexpected {name}: {_one_line(str(exc))} (a bug in activate: rerun with {DEBUG_VARIABLE}=1 for "
            "the traceback and report it)"
        )
    )


def _sqlalchemy_failure(exc: BaseException) -> Failure | None:
    sa_exc = _loaded("sqlalchemy.exc")
    if sa_exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
        return None
    where = _where(exc)
    if isinstance(exc, sa_exc.NoSuchModuleError):
        dialect = str(exc).rsplit(":", 1)[-1].strip()
        return Failure(
            f"{where}: unknown database dialect '{dialect}' in its URL (use duckdb:///path or "
            "postgresql+psycopg://user@host/db, or install the dialect's driver)",
            2,
        )
    if isinstance(exc, sa_exc.ArgumentError):
        return Failure(
            f"{where}: the URL cannot be used: {_one_line(str(exc))} (state.url in activate.yml or "
            "ACTIVATE_STATE_URL takes a SQLAlchemy URL such as duckdb:///.activate/state.duckdb)",
            2,
        )
    if isinstance(exc, sa_exc.DBAPIError):
        reason = _one_line(str(exc.orig) if exc.orig is not None else str(exc))
        damaged = _duckdb_message(reason)
        if damaged is not None:
            return damaged
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or exc.connection_invalidated:
            return Failure(
                f"cannot reach {where}: {reason} (check that the database is running and the URL's host, port and "
                "credentials; rows a run sent before the failure are re-sent by the next run, idempotently)"
            )
        return Failure(f"{where} refused a statement: {reason}")
    return Failure(f"{where}: {_one_line(str(exc))}")


def _duckdb_failure(exc: BaseException) -> Failure | None:
    duckdb = _loaded("duckdb")
    if duckdb is None or not isinstance(exc, duckdb.Error):
        return None
    return _duckdb_message(_one_line(str(exc))) or Failure(f"DuckDB: {_one_line(str(exc))}")


def _duckdb_message(reason: str) -> Failure | None:
    """A damaged DuckDB file (with how to recover), or one locked by another process (with its pid)."""
    locked = _LOCK_HOLDER.search(reason)
    if locked is not None:
        return Failure(
            f"the DuckDB file {locked.group(1)} is held by another process (pid {locked.group(2)}): wait for it to "
            "finish, or keep state in Postgres when runs must overlap"
        )
    if _DAMAGED.search(reason) is None:
        return None
    found = _QUOTED_FILE.search(reason)
    file = f" {found.group(1)}" if found else ""
    return Failure(f"the DuckDB file{file} is damaged ({reason}): {reset_advice()}")


def _httpx_failure(exc: BaseException) -> Failure | None:
    httpx = _loaded("httpx")
    if httpx is None or not isinstance(exc, httpx.HTTPError):
        return None
    try:
        host = f" {exc.request.url.host}:{exc.request.url.port or ''}".rstrip(":")
    except RuntimeError:  # an error raised before its request was built
        host = ""
    return Failure(f"cannot reach{host}: {_one_line(str(exc)) or type(exc).__name__} (is the service up?)")


def _os_failure(exc: BaseException) -> Failure | None:
    if not isinstance(exc, OSError):
        return None
    if exc.errno == errno.EADDRINUSE:
        return Failure("a port this command listens on is already in use: choose another with --port")
    detail = exc.strerror or str(exc)
    return Failure(f"{detail}: {exc.filename}" if exc.filename else _one_line(str(exc)) or detail)


def _where(exc: BaseException) -> str:
    """Which database an error came from, read from where it was raised: the state store, or the warehouse."""
    tb: TracebackType | None = exc.__traceback__
    modules = []
    while tb is not None:
        modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    if any(m.startswith("activate.state") for m in modules):
        return "the state store"
    if any(m.startswith(("activate.sources", "activate.diff")) for m in modules):
        return "the warehouse"
    return "the database"


def _loaded(module: str) -> Any:
    return sys.modules.get(module)


def _one_line(text: str) -> str:
    """The first non-empty line, whitespace collapsed, at most 400 characters (drivers append pages of context)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = " ".join(lines[0].split()) if lines else ""
    return first if len(first) <= 400 else first[:397] + "..."


def _scrub(text: str) -> str:
    """A password inside any URL of the message becomes ***."""
    return _URL_PASSWORD.sub(r"\1***@", text)
