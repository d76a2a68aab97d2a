"""The local providers (environment, file) and the protocol every provider implements.

A provider turns one `Reference` into a `SecretStr` (a value is never a plain `str` after it leaves the provider)
or raises a `SecretError` saying where it looked. Providers are built once per run by the `SecretSession`, which
caches what they return; `read` is always a fresh read (the session decides when to call it again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from activate.secrets.errors import SecretAccessDenied, SecretFieldMissing, SecretNotFound
from activate.secrets.references import Reference


class SecretProvider(Protocol):
    """Reads one reference's current value. Thread-safe; raises `SecretError` subclasses only."""

    name: str

    def read(self, reference: Reference) -> SecretStr: ...


class EnvironmentProvider:
    """`${NAME}`, `${NAME:-default}`, `${env:NAME}`: the process environment (or a mapping given for tests)."""

    name = "env"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env

    def lookup(self, reference: Reference) -> str | None:
        """The value, the default when unset or empty, or None when neither."""
        found = self.env.get(reference.key)
        if reference.default is not None and not found:
            return reference.default
        return found

    def read(self, reference: Reference) -> SecretStr:
        found = self.lookup(reference)
        if found is None:
            raise SecretNotFound(
                "env",
                reference.text,
                f"environment variable '{reference.key}' is not set",
                f"export {reference.key}=..., or give a default with ${{{reference.key}:-default}}",
            )
        return SecretStr(found)


class FileProvider:
    """`${file:PATH}`: a file's contents without trailing newlines (Kubernetes and Docker secret mounts).

    Relative paths are relative to the project directory; `~` expands. The file is read on every `read`, so a
    mount updated by a rotation is picked up by a re-read.
    """

    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, reference: Reference) -> Path:
        return (self.root / Path(reference.key).expanduser()).resolve()

    def read(self, reference: Reference) -> SecretStr:
        path = self.path(reference)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretNotFound(
                "file", reference.text, f"no file at {path}", "mount the secret there, or fix the path"
            ) from None
        except PermissionError:
            raise SecretAccessDenied(
                "file", reference.text, f"permission denied reading {path}", "let the user running activate read it"
            ) from None
        except IsADirectoryError:
            raise SecretNotFound(
                "file", reference.text, f"{path} is a directory", "name the file inside the mount"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = type(exc).__name__
            raise SecretNotFound(
                "file", reference.text, f"cannot read {path} ({reason})", "a secret file holds UTF-8 text"
            ) from None
        return SecretStr(text.rstrip("\r\n"))


def field_of(provider: str, reference: Reference, document: Mapping[str, Any] | str, where: str) -> SecretStr:
    """`#FIELD` of a structured secret (a mapping, or a JSON object as text); the whole text without a field.

    A non-string field value is given as JSON (`5432`, `true`); the message of a failure names the field and the
    place, never the secret's content.
    """
    if reference.field is None:
        if isinstance(document, str):
            return SecretStr(document)
        return SecretStr(json.dumps(document, separators=(",", ":")))
    data: Any = document
    if isinstance(document, str):
        try:
            data = json.loads(document)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SecretFieldMissing(
                provider,
                reference.text,
                f"the secret at {where} is not a JSON object, so it has no field '{reference.field}'",
                f"drop '#{reference.field}' to read the whole string, or store the secret as JSON",
            )
    if reference.field not in data:
        raise SecretFieldMissing(
            provider,
            reference.text,
            f"the secret at {where} has no field '{reference.field}'",
            "add the field to the secret, or fix the name after '#'",
        )
    value = data[reference.field]
    return SecretStr(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
