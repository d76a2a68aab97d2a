"""`validate --check-connections`: fetch every provider reference of a project and say which ones resolve.

Plain `validate` never gets here: it checks references syntactically and that their provider is configured
(`activate.config.loader`), and makes no call to any provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from activate.secrets.connections import session_for
from activate.secrets.errors import SecretError

if TYPE_CHECKING:
    from activate.config.project import Project


@dataclass(frozen=True)
class ReferenceCheck:
    """One reference at one place: `error` is None when it resolved (the value itself is never kept here)."""

    where: str
    reference: str
    error: str | None = None

    @property
    def resolved(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        if self.error is None:
            return f"{self.where}: {self.reference}: resolved"
        return self.error


def check_references(project: Project) -> list[ReferenceCheck]:
    """Read every late reference once (through the current session, or a new one); one check per place."""
    session = session_for(project)
    checks: list[ReferenceCheck] = []
    for value in project.late.values:
        for reference in value.template.late:
            where = value.located(reference)
            try:
                session.value(reference)
            except SecretError as exc:
                checks.append(ReferenceCheck(where, reference.text, project.secrets.mask(str(exc.at(where)))))
            else:
                checks.append(ReferenceCheck(where, reference.text))
    return checks
