"""Errors every layer of activate raises, and the exit code each maps to.

ActivateError                 base: a message safe to print (never a secret)
 ├─ ConfigError               invalid project or sync files; carries every issue found (exit 2)
 ├─ UsageError                a command used wrongly: unknown sync, bad flag combination (exit 2)
 ├─ SourceError               the warehouse refused the query (exit 1)
 ├─ LockHeldError             another run of the same sync holds the lock (exit 1)
 ├─ GuardrailError            a guardrail stopped the run before any write (exit 1)
 ├─ SyncHeldError             the sync is held by `revert --hold` until `resume` (exit 5)
 └─ WriterError               raised by destinations through the writer toolkit (see activate.http.errors)
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ActivateError(Exception):
    """Base of every error activate raises on purpose. `str(err)` is safe to show a user."""

    exit_code = 1


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a project file, positioned so an editor can jump to it."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.path + ': ' if self.path else ''}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


@dataclass
class ConfigError(ActivateError):
    """Every issue found in a project, reported at once."""

    issues: list[ConfigIssue] = field(default_factory=list)
    exit_code = 2

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


class UsageError(ActivateError):
    """A command was used wrongly (unknown sync name, conflicting flags)."""

    exit_code = 2


class SourceError(ActivateError):
    """The warehouse could not run the sync's query."""


class LockHeldError(ActivateError):
    """Another run of the same sync is in progress."""


class GuardrailError(ActivateError):
    """A guardrail tripped on the plan; nothing was written."""


class SyncHeldError(ActivateError):
    """The sync is held (`activate revert RUN --hold`) so it does not re-apply what was reverted; nothing ran."""

    exit_code = 5  # activate.exits.HELD
