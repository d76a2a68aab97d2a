"""References in config values: the environment filled in now, provider references kept for later.

Grammar (`activate.secrets.references`): `${NAME}`, `${NAME:-default}`, `${env:NAME}` read the environment when
the file loads; `${file:PATH}`, `${vault:PATH#FIELD}` and `${aws-sm:NAME#FIELD}` are *late*: left in the value as
written and recorded with their path, to be read when a connection opens (never by `validate`). `$${` is a
literal `${`. Where a late reference may stand is the caller's policy (`late_policy`): a problem at any other place.

Only string values are resolved, never keys. Every problem of a file is reported, not just the first. For each
value that took something from the environment the resolution keeps the value as written (`named`), so an error
about it can name the reference instead of echoing what the environment held.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from activate.config.positions import PathPart, format_path
from activate.secrets.providers import EnvironmentProvider
from activate.secrets.references import Reference, ReferenceSyntaxError, Template, parse_template

LatePolicy = Callable[[tuple[PathPart, ...], Reference], str | None]
"""(path, late reference) -> None when it may stand there, else why not (the hint of the problem)."""


def no_late_references(path: tuple[PathPart, ...], reference: Reference) -> str | None:
    return "provider references are read when a connection opens: use them in connections of activate.yml"


@dataclass(frozen=True)
class EnvProblem:
    """A reference that could not be resolved or may not stand here; `name` is the environment variable, if any."""

    path: str
    name: str | None
    token: str
    message: str
    hint: str


@dataclass
class EnvResolution:
    """The data with environment references replaced, what could not be, and where values came from."""

    data: Any
    problems: list[EnvProblem] = field(default_factory=list)
    substituted: dict[str, list[str]] = field(default_factory=dict)
    """path -> the environment values written into that path (secret fields add them to the masker)."""
    named: dict[str, str] = field(default_factory=dict)
    """path -> the value as written (`${PW}`, `Bearer ${TOKEN}`), for every value that holds a reference."""
    late: dict[tuple[PathPart, ...], Template] = field(default_factory=dict)
    """path -> template of a value holding late references (its environment parts filled in)."""


def resolve_env(data: Any, env: Mapping[str, str], late_policy: LatePolicy = no_late_references) -> EnvResolution:
    """Resolve every environment reference in the string values of `data` (plain dicts, lists and scalars)."""
    resolution = EnvResolution(None)
    resolution.data = _resolve(data, (), EnvironmentProvider(env), late_policy, resolution)
    return resolution


def _resolve(
    value: Any, path: tuple[PathPart, ...], env: EnvironmentProvider, policy: LatePolicy, out: EnvResolution
) -> Any:
    if isinstance(value, dict):
        return {key: _resolve(item, (*path, str(key)), env, policy, out) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, (*path, index), env, policy, out) for index, item in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        return _substitute(value, path, env, policy, out)
    return value


def _substitute(
    text: str, path: tuple[PathPart, ...], env: EnvironmentProvider, policy: LatePolicy, out: EnvResolution
) -> str:
    where = format_path(path)
    try:
        template = parse_template(text)
    except ReferenceSyntaxError as exc:
        out.problems.append(EnvProblem(where, None, exc.token, exc.message, exc.hint))
        return text
    if not template.references:
        return template.render(str)
    out.named[where] = text

    def fill(reference: Reference) -> str | None:
        if reference.late:
            refused = policy(path, reference)
            if refused is not None:
                message = f"{reference.text} cannot be used here"
                out.problems.append(EnvProblem(where, None, reference.text, message, refused))
                return reference.text  # reported once, not checked again as a late reference
            return None
        found = env.lookup(reference)
        if found is None:
            name = reference.key
            hint = f"export {name}=..., or give a default with ${{{name}:-default}}; $${{ gives a literal ${{"
            out.problems.append(
                EnvProblem(where, name, reference.text, f"environment variable '{name}' is not set", hint)
            )
            return reference.text
        if reference.default is None or env.env.get(reference.key):
            out.substituted.setdefault(where, []).append(found)
        return found

    filled = template.partial(fill)
    if filled.late:
        out.late[path] = filled
        return filled.text
    return filled.render(str)
