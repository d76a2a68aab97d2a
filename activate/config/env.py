"""`${VAR}` and `${VAR:-default}` in config values, read from the environment.

Grammar (deliberately the shell's subset everyone already knows):

    ${NAME}            the variable's value; an error with position when it is unset
    ${NAME:-default}   the value, or `default` when the variable is unset or empty
    $${                a literal `${` (so a query or template can contain one)

Only string values are resolved, never keys. Every unset variable of a file is reported, not just the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from activate.config.positions import PathPart, format_path

_TOKEN = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")


@dataclass(frozen=True)
class EnvProblem:
    """A `${...}` that could not be resolved: `name` is None when the reference itself is malformed."""

    path: str
    name: str | None
    token: str

    @property
    def message(self) -> str:
        if self.name is None:
            return f"malformed environment reference in {self.token!r}"
        return f"environment variable '{self.name}' is not set"

    @property
    def hint(self) -> str:
        if self.name is None:
            return "write ${NAME} or ${NAME:-default}; $${ gives a literal ${"
        return f"export {self.name}=..., or give a default with ${{{self.name}:-default}}; $${{ gives a literal ${{"


@dataclass
class EnvResolution:
    """The data with every reference replaced, what could not be, and which values came from the environment."""

    data: Any
    problems: list[EnvProblem] = field(default_factory=list)
    substituted: dict[str, list[str]] = field(default_factory=dict)
    """path -> the environment values written into that path (secret fields add them to the masker)."""


def resolve_env(data: Any, env: Mapping[str, str]) -> EnvResolution:
    """Resolve every `${...}` in the string values of `data` (plain dicts, lists and scalars)."""
    resolution = EnvResolution(None)
    resolution.data = _resolve(data, (), env, resolution)
    return resolution


def _resolve(value: Any, path: tuple[PathPart, ...], env: Mapping[str, str], out: EnvResolution) -> Any:
    if isinstance(value, dict):
        return {key: _resolve(item, (*path, str(key)), env, out) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, (*path, index), env, out) for index, item in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        return _substitute(value, format_path(path), env, out)
    return value


def _substitute(text: str, path: str, env: Mapping[str, str], out: EnvResolution) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None:
            out.problems.append(EnvProblem(path, None, text[match.start() : match.start() + 20]))
            return token
        found = env.get(name)
        if default is not None and not found:
            return default
        if found is None:
            out.problems.append(EnvProblem(path, name, token))
            return token
        out.substituted.setdefault(path, []).append(found)
        return found

    return _TOKEN.sub(replace, text)
