"""Late references of a project and the connections they open into.

The loader leaves every `${file:..}`, `${vault:..}` and `${aws-sm:..}` of a connection in place (validated as the
reference's text) and records it here with its position. `open_connection` renders them through the run's
`SecretSession` and validates the connection model again with the real values, so a connection object holding a
provider's secret exists only while a run (or a check) uses it.

The result carries a `ProviderCredentials`: the one place a refused credential is re-read. Writers call
`reread(stale_version)` from the toolkit's "refresh once" hook, warehouse logins from
`activate.warehouse.refusal.open_with_reread`; it re-reads every provider reference of the opened connection at
most once, so a refused rotation ends the run with one line instead of a 401 loop.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from activate.http.errors import AuthFailed, WriterError
from activate.secrets.errors import SecretError
from activate.secrets.references import Reference, Template
from activate.secrets.session import SecretSession, current_session

if TYPE_CHECKING:
    from activate.config.models import ConnectionSpec
    from activate.config.positions import PathPart
    from activate.config.project import Project

REFUSED = "refused after re-reading the secret"


class CredentialsRefused(AuthFailed):
    """Provider-backed credentials refused after their one re-read: the run fails `auth` with this one line."""


@dataclass(frozen=True)
class LateValue:
    """A config string holding late references: its path, its template (environment parts already filled in) and
    where each reference is written (`activate.yml:9:30`)."""

    path: tuple[PathPart, ...]
    dotted: str
    template: Template
    where: Mapping[Reference, str] = field(default_factory=dict)

    def located(self, reference: Reference) -> str:
        return f"{self.where.get(reference, 'activate.yml')}: {self.dotted}"


@dataclass(frozen=True)
class LateReferences:
    """Every late reference of a project, the data of the connections holding them, and the environment."""

    values: tuple[LateValue, ...] = ()
    connections: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] | None = field(default=None, repr=False)

    def of_connection(self, name: str) -> list[LateValue]:
        return [v for v in self.values if v.path[:2] == ("connections", name)]

    def settings(self) -> dict[str, Template]:
        """Provider settings (`secrets.vault.auth.secret_id`) holding a `${file:..}`."""
        return {v.dotted: v.template for v in self.values if v.path[0] == "secrets"}

    def __repr__(self) -> str:
        return f"LateReferences({len(self.values)} values)"


def new_session(project: Project) -> SecretSession:
    """A session over the project's providers, feeding its masker."""
    late = project.late
    return SecretSession(project.root, project.spec.secrets, project.secrets, env=late.env, settings=late.settings())


def session_for(project: Project) -> SecretSession:
    """The run's session when one is open for this project, else a new one."""
    current = current_session()
    if current is not None and current.masker is project.secrets:
        return current
    return new_session(project)


def open_connection(project: Project, name: str, spec: ConnectionSpec) -> ConnectionSpec:
    """`spec` with its late references resolved (itself when it has none). Raises `SecretError` (positioned) when a
    reference cannot be read, `ConfigError` when a resolved value does not fit the setting."""
    values = project.late.of_connection(name)
    if not values:
        return spec
    credentials = ProviderCredentials(project, name, spec, values, session_for(project))
    return credentials.model


class ProviderCredentials:
    """The provider-backed credentials of one open connection (thread-safe).

    `version` grows each time a re-read changed a value; a writer remembers the version a request used and hands it
    to `reread`, so the threads refused together cause one re-read, and the later ones just retry with the new
    value. A second refusal, or a re-read that changed nothing, raises `AuthFailed` naming the connection and the
    references: never a loop.
    """

    def __init__(
        self,
        project: Project,
        name: str,
        spec: ConnectionSpec,
        values: Sequence[LateValue],
        session: SecretSession,
    ) -> None:
        self.project = project
        self.name = name
        self.values = list(values)
        self.session = session
        self.version = 0
        self.reread_done = False
        self._failure: str | None = None  # the line every later refusal repeats, so all threads tell one story
        self._model_type = type(spec)
        self._used: dict[Reference, str] = {}  # the value each reference had when `model` was built
        self._lock = threading.RLock()
        self.model = self._build()

    @property
    def references(self) -> str:
        """`${vault:secret/data/hook#token} (activate.yml:9:30)`, for messages."""
        seen = dict.fromkeys(
            f"{ref.text} ({value.where.get(ref, 'activate.yml')})"
            for value in self.values
            for ref in value.template.late
        )
        return ", ".join(seen)

    def current(self) -> tuple[int, ConnectionSpec]:
        with self._lock:
            return self.version, self.model

    def reread(self, stale: int, cause: str | None = None) -> ConnectionSpec:
        """After a refusal of credentials of version `stale`: the connection with re-read values. Raises
        `AuthFailed` when they did not change, or when this run already re-read them once. `cause` is the
        refusal in the service's words (never a secret), quoted by the line the run fails with."""
        with self._lock:
            if self.version != stale:
                return self.model  # another thread re-read already: retry with the new value
            if self.reread_done:
                raise self.refused()
            self.reread_done = True
            changed = False
            for value in self.values:
                for ref in value.template.late:
                    try:
                        fresh = self.session.fresh(ref).get_secret_value()
                    except SecretError as exc:
                        self._failure = self._line(f"the re-read failed: {exc.at(value.located(ref))}")
                        raise CredentialsRefused(self._failure) from None
                    # Compared with what this connection used, not with the session's cache: another connection
                    # of the run may have re-read (and cached) the new value already.
                    changed = changed or fresh != self._used.get(ref)
            if not changed:
                said = f"; refused with: {self.project.secrets.mask(cause)}" if cause else ""
                self._failure = self._line(
                    f"the secret is unchanged (rotate it in the provider, or fix its grant){said}"
                )
                raise CredentialsRefused(self._failure)
            self.model = self._build()
            self.version += 1
            return self.model

    def refused(self, error: WriterError | None = None) -> AuthFailed:
        """The one line a run fails with when the re-read credentials are refused too (`error` itself when it is
        that line already)."""
        if isinstance(error, CredentialsRefused):
            return error
        with self._lock:
            return self._refused_line(error)

    def _refused_line(self, error: WriterError | None) -> CredentialsRefused:
        if self._failure is None:
            # The toolkit's AuthFailed wraps the refusal itself (`HTTP 401: ...`): that is what the line quotes.
            cause = error.__cause__ if error is not None and isinstance(error.__cause__, WriterError) else error
            detail = f": {cause.message}" if cause is not None else ""
            self._failure = self._line(f"the new value was refused too{detail}")
        return CredentialsRefused(self._failure)

    def _line(self, why: str) -> str:
        return f"connection '{self.name}': {self.references} {REFUSED}; {why}"

    def _build(self) -> ConnectionSpec:
        from activate.config.document import Document
        from activate.config.validation import validation_issues
        from activate.errors import ConfigError

        data = copy.deepcopy(self.project.late.connections[self.name])
        names: dict[str, str] = {}
        for value in self.values:
            text = value.template.render(lambda ref, v=value: self._value(v, ref))  # type: ignore[misc]
            _assign(data, value.path[2:], text)
            names[value.dotted] = value.template.text
        try:
            model = self._model_type.model_validate(data)
        except ValidationError as exc:
            doc = Document("activate.yml", "", None, self.project.positions)
            prefix = ("connections", self.name)
            issues = validation_issues(doc, self._model_type, data, exc, prefix, names=names)
            mask = self.project.secrets.mask
            raise ConfigError(
                [replace(i, message=mask(i.message), hint=mask(i.hint) if i.hint else None) for i in issues]
            ) from None
        if "_provider_credentials" in type(model).__private_attributes__:
            model._provider_credentials = self
        return model

    def _value(self, value: LateValue, reference: Reference) -> str:
        if not reference.late:
            return reference.text
        try:
            text = self.session.value(reference).get_secret_value()
        except SecretError as exc:
            raise exc.at(value.located(reference)) from None
        self._used[reference] = text
        return text


def _assign(data: Any, path: Sequence[PathPart], text: str) -> None:
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = text


def credentials_of(connection: object) -> ProviderCredentials | None:
    """The provider-backed credentials a connection was opened with, or None (literal or environment values)."""
    found = getattr(connection, "_provider_credentials", None)
    return found if isinstance(found, ProviderCredentials) else None
