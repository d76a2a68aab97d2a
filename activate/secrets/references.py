"""The `${...}` grammar of config values, parsed into references a provider can resolve.

    ${NAME}  ${NAME:-default}        the environment (`default` when unset or empty)
    ${env:NAME}  ${env:NAME:-default}  the same, spelled with its provider
    ${file:PATH}                      a file's contents, trailing newlines stripped; PATH relative to the project
    ${vault:PATH#FIELD}               one field of a Vault / OpenBao KV v2 secret (`secret/data/x` or `secret/x`)
    ${aws-sm:NAME#FIELD}              one key of a JSON secret in AWS Secrets Manager; without `#FIELD` the string
    $${                               a literal `${`

Environment references are resolved when a file is loaded; the others are *late*: kept as references until a
connection opens, so `validate` never fetches a secret. A string is parsed into a `Template` (literal text and
references in order); one malformed reference is a `ReferenceSyntaxError` naming what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

PROVIDERS = ("env", "file", "vault", "aws-sm")
LATE_PROVIDERS = frozenset({"file", "vault", "aws-sm"})
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV = re.compile(rf"(?:env:)?({_NAME})(?::-(.*))?", re.DOTALL)
_PROVIDER = re.compile(r"([a-z][a-z0-9-]*):(.*)", re.DOTALL)


@dataclass(frozen=True)
class Reference:
    """One `${...}`: `provider` (env, file, vault, aws-sm), `key` (variable, path or secret name), the `#field` of
    a structured secret, the `:-default` of an environment variable, and `text`, the reference as written (what
    messages quote: it says where a value comes from, never what it is)."""

    provider: str
    key: str
    field: str | None = None
    default: str | None = None
    text: str = ""

    @property
    def late(self) -> bool:
        """Resolved when a connection opens (not when the file is loaded)."""
        return self.provider in LATE_PROVIDERS

    def __str__(self) -> str:
        return self.text


class ReferenceSyntaxError(ValueError):
    """A `${...}` that is not a valid reference; `token` is what was written, `hint` how to write it."""

    def __init__(self, message: str, token: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.token = token
        self.hint = hint


Part = str | Reference


@dataclass(frozen=True)
class Template:
    """A config string as literal text and references, in order (`$${` already turned into a literal `${`)."""

    parts: tuple[Part, ...]

    @property
    def references(self) -> tuple[Reference, ...]:
        return tuple(p for p in self.parts if isinstance(p, Reference))

    @property
    def late(self) -> tuple[Reference, ...]:
        return tuple(r for r in self.references if r.late)

    @property
    def text(self) -> str:
        """The string as written (references as their `${...}` text, a literal `${` escaped again)."""
        return "".join(p.text if isinstance(p, Reference) else p.replace("${", "$${") for p in self.parts)

    def render(self, value: Callable[[Reference], str]) -> str:
        """The string with each reference replaced by `value(reference)`."""
        return "".join(value(p) if isinstance(p, Reference) else p for p in self.parts)

    def partial(self, value: Callable[[Reference], str | None]) -> Template:
        """References for which `value` gives a string replaced by it; the others kept (environment now, late
        references at connection time)."""
        parts: list[Part] = []
        for part in self.parts:
            resolved = value(part) if isinstance(part, Reference) else part
            item: Part = part if resolved is None else resolved
            if isinstance(item, str) and parts and isinstance(parts[-1], str):
                parts[-1] += item
            else:
                parts.append(item)
        return Template(tuple(parts))


def has_reference(text: str) -> bool:
    return "${" in text


def parse_template(text: str) -> Template:
    """`text` as a `Template`; raises `ReferenceSyntaxError` at the first malformed reference."""
    parts: list[Part] = []
    literal = ""
    position = 0
    for match in _TOKEN.finditer(text):
        literal += text[position : match.start()]
        position = match.end()
        token = match.group(0)
        if token == "$${":
            literal += "${"
            continue
        inner = match.group(1)
        snippet = text[match.start() : match.start() + 20]
        if inner is None and ":" in text[match.start() : match.start() + 12]:
            raise ReferenceSyntaxError(f"unclosed reference {snippet!r}", snippet, "close it with }")
        if inner is None or (":" not in inner and _ENV.fullmatch(inner) is None):
            raise ReferenceSyntaxError(f"malformed environment reference in {snippet!r}", snippet, _ENV_GRAMMAR)
        reference = parse_reference(inner, token)
        if literal:
            parts.append(literal)
            literal = ""
        parts.append(reference)
    literal += text[position:]
    if literal:
        parts.append(literal)
    return Template(tuple(parts))


def iter_references(text: str) -> Iterator[Reference]:
    yield from parse_template(text).references


def parse_reference(inner: str, token: str) -> Reference:
    """The reference `${inner}` (`token` is the text as written, for messages)."""
    env = _ENV.fullmatch(inner)
    if env is not None:
        return Reference("env", env.group(1), default=env.group(2), text=token)
    provider = _PROVIDER.fullmatch(inner)
    if provider is None:
        raise ReferenceSyntaxError("malformed reference", token, _GRAMMAR)
    name, rest = provider.group(1), provider.group(2)
    if name == "env":
        raise ReferenceSyntaxError("malformed environment reference", token, "write ${env:NAME}")
    if name == "file":
        if not rest.strip():
            raise ReferenceSyntaxError("a file reference names no file", token, "write ${file:path/to/secret}")
        return Reference("file", rest, text=token)
    if name == "vault":
        path, hash_, field = rest.partition("#")
        if not path.strip("/ ") or not hash_ or not field:
            raise ReferenceSyntaxError(
                "a vault reference must name a secret path and a #field",
                token,
                "write ${vault:secret/data/PATH#FIELD} (KV v2), e.g. ${vault:secret/data/hubspot#token}",
            )
        return Reference("vault", path.strip("/"), field=field, text=token)
    if name == "aws-sm":
        secret, hash_, field = rest.partition("#")
        if not secret.strip() or (hash_ and not field):
            raise ReferenceSyntaxError(
                "an aws-sm reference must name a secret",
                token,
                "write ${aws-sm:NAME} for the whole string or ${aws-sm:NAME#KEY} for one key of a JSON secret",
            )
        return Reference("aws-sm", secret, field=field or None, text=token)
    known = ", ".join(PROVIDERS)
    raise ReferenceSyntaxError(f"unknown secret provider '{name}'", token, f"known providers: {known}")


_ENV_GRAMMAR = "write ${NAME} or ${NAME:-default}; $${ gives a literal ${"
_GRAMMAR = (
    "write ${NAME}, ${NAME:-default}, ${file:PATH}, ${vault:PATH#FIELD} or ${aws-sm:NAME#FIELD}; $${ gives a literal ${"
)
