"""`SecretSession`: the secrets of one run, each fetched once and re-read at most when a credential is refused.

A run opens a scope (`secret_scope(project)`); every connection opened inside it (source, destination, alert)
resolves its references through the scope's session, so a reference used by three connections is fetched once.
Outside a scope (`plan`, `validate --check-connections` per connection) each opening gets a session of its own.
Every value read is added to the project's `SecretMasker` before it is handed out, so it is `***` in every message,
log line and state table from the moment it exists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from activate.secrets.config import SecretsSpec
from activate.secrets.errors import ProviderUnavailable
from activate.secrets.providers import EnvironmentProvider, FileProvider, SecretProvider
from activate.secrets.references import Reference, Template

if TYPE_CHECKING:
    from activate.config.secrets import SecretMasker


class SecretSession:
    """Per-run cache of resolved references (thread-safe). `reads` counts provider reads, for tests and logs."""

    def __init__(
        self,
        root: Path,
        spec: SecretsSpec,
        masker: SecretMasker,
        *,
        env: Mapping[str, str] | None = None,
        settings: Mapping[str, Template] | None = None,
    ) -> None:
        self.root = root
        self.spec = spec
        self.masker = masker
        self.env = EnvironmentProvider(env)
        self.settings = dict(settings or {})
        self.reads = 0
        self._values: dict[Reference, SecretStr] = {}
        self._providers: dict[str, SecretProvider] = {}
        self._lock = threading.RLock()

    def value(self, reference: Reference) -> SecretStr:
        """The reference's value, read on first use and then cached for the session."""
        with self._lock:
            cached = self._values.get(reference)
        if cached is not None:
            return cached
        return self._read(reference)

    def reread(self, reference: Reference) -> bool:
        """Read the reference again; whether its value changed."""
        with self._lock:
            before = self._values.get(reference)
        after = self._read(reference)
        return before is None or before.get_secret_value() != after.get_secret_value()

    def fresh(self, reference: Reference) -> SecretStr:
        """The reference read again from its provider (and cached for the rest of the session)."""
        return self._read(reference)

    def provider(self, reference: Reference) -> SecretProvider:
        with self._lock:
            found = self._providers.get(reference.provider)
            if found is None:
                found = self._build(reference)
                self._providers[reference.provider] = found
            return found

    def setting(self, path: str, value: SecretStr | str | None) -> str | None:
        """A provider setting (`secrets.vault.auth.secret_id`) with its `${file:..}` resolved."""
        template = self.settings.get(path)
        if template is not None:
            return template.render(lambda ref: self.value(ref).get_secret_value())
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return value

    def _read(self, reference: Reference) -> SecretStr:
        value = self.provider(reference).read(reference)
        self.masker.add(value.get_secret_value())
        with self._lock:
            self.reads += 1
            self._values[reference] = value
        return value

    def _build(self, reference: Reference) -> SecretProvider:
        if reference.provider == "env":
            return self.env
        if reference.provider == "file":
            return FileProvider(self.root)
        if reference.provider == "vault" and self.spec.vault is not None:
            from activate.secrets.vault import VaultProvider

            return VaultProvider(self.spec.vault, self.env.env, self.setting)
        if reference.provider == "aws-sm" and self.spec.aws_sm is not None:
            from activate.secrets.aws import AwsSecretsProvider

            return AwsSecretsProvider(self.spec.aws_sm)
        key = reference.provider
        raise ProviderUnavailable(
            key, reference.text, f"no {key} provider is configured", f"add secrets: {{{key}: ...}} to activate.yml"
        )


_CURRENT: ContextVar[SecretSession | None] = ContextVar("activate_secret_session", default=None)


@contextmanager
def secret_scope(session: SecretSession) -> Iterator[SecretSession]:
    """Make `session` the one connections opened in this thread (and its context) resolve through."""
    token = _CURRENT.set(session)
    try:
        yield session
    finally:
        _CURRENT.reset(token)


def current_session() -> SecretSession | None:
    return _CURRENT.get()
