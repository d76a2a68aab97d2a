"""Why a secret could not be read. Every message says where it looked, never what it found.

    ActivateError
     └─ SecretError              provider, reference and (once known) its file:line:col, plus the fix
         ├─ SecretNotFound       no secret (or file) at that path / name
         ├─ SecretFieldMissing   the secret exists but has no such #FIELD (or is not a JSON object)
         ├─ SecretAccessDenied   the provider refused: permission denied, or its login was refused
         └─ ProviderUnavailable  the provider cannot be reached, is sealed, or its client is not installed

`SecretError.exit_code` is 1: a run that cannot read its credentials fails; `validate --check-connections` reports
each one and exits 1.
"""

from __future__ import annotations

from activate.errors import ActivateError


class SecretError(ActivateError):
    """A reference could not be resolved. `where` (`activate.yml:12:22`) is filled in by whoever knows it."""

    def __init__(self, provider: str, reference: str, message: str, hint: str, *, where: str | None = None) -> None:
        self.provider = provider
        self.reference = reference
        self.message = message
        self.hint = hint
        self.where = where
        super().__init__(str(self))

    def at(self, where: str) -> SecretError:
        """The same error positioned at `where`."""
        return type(self)(self.provider, self.reference, self.message, self.hint, where=where)

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}{self.reference}: {self.provider}: {self.message} ({self.hint})"


class SecretNotFound(SecretError):
    """Nothing at the path or name the reference gives."""


class SecretFieldMissing(SecretError):
    """The secret exists but holds no such field."""


class SecretAccessDenied(SecretError):
    """The provider refused to hand the secret over (policy, IAM, a refused login)."""


class ProviderUnavailable(SecretError):
    """The provider could not be asked: unreachable, sealed, not configured, or its client not installed."""
