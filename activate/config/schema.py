"""Walk a pydantic model's annotations along a config path: which keys are valid there, which values a Literal
allows, whether the value is a secret. Errors use it to suggest fixes; the masker uses it to find secrets even in a
file that failed validation.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr

from activate.config.positions import PathPart

SecretFound = tuple[tuple[PathPart, ...], str]


def expand(annotation: Any) -> list[Any]:
    """The concrete alternatives of an annotation: `Annotated`, `Optional` and unions unwrapped, None dropped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return expand(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [alt for arg in get_args(annotation) for alt in expand(arg)]
    if annotation is type(None):
        return []
    return [annotation]


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _field_annotation(model: type[BaseModel], key: str) -> Any | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias, info.validation_alias):
            return info.annotation
    return None


def child_types(candidates: Sequence[Any], part: PathPart) -> list[Any]:
    """The alternatives one step down `part` from any of `candidates`."""
    found: list[Any] = []
    for candidate in candidates:
        origin = get_origin(candidate)
        if _is_model(candidate) and isinstance(part, str):
            annotation = _field_annotation(candidate, part)
            if annotation is not None:
                found.extend(expand(annotation))
        elif origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
            args = get_args(candidate)
            if isinstance(part, str) and len(args) == 2:
                found.extend(expand(args[1]))
        elif origin in (list, tuple, set, frozenset) or (isinstance(origin, type) and issubclass(origin, Sequence)):
            args = get_args(candidate)
            if isinstance(part, int) and args:
                found.extend(expand(args[0]))
    return found


def branch(candidates: Sequence[Any], tag: str) -> list[Any]:
    """The union member pydantic names `tag` in an error's loc: a discriminator value, a model's or a type's name.
    Empty when none matches (the caller then follows the data alone)."""
    for candidate in candidates:
        if _is_model(candidate):
            if candidate.__name__ == tag:
                return [candidate]
            for info in candidate.model_fields.values():
                if get_origin(info.annotation) is Literal and tag in [str(v) for v in get_args(info.annotation)]:
                    return [candidate]
        else:
            name = str(getattr(get_origin(candidate) or candidate, "__name__", candidate))
            if tag == name or tag.startswith(name + "["):
                return [candidate]
    return []


def types_at(root: Any, parts: Sequence[PathPart]) -> list[Any]:
    """The alternatives of the annotation at `parts` below `root` (empty when the path leads nowhere)."""
    candidates = expand(root)
    for part in parts:
        candidates = child_types(candidates, part)
    return candidates


def keys_at(root: Any, parts: Sequence[PathPart]) -> list[str]:
    """The keys a mapping at `parts` accepts (its models' field names, by alias), in declaration order."""
    keys: list[str] = []
    for candidate in types_at(root, parts):
        if _is_model(candidate):
            for name, info in candidate.model_fields.items():
                key = info.alias or name
                if key not in keys:
                    keys.append(key)
    return keys


def literal_values(candidates: Sequence[Any]) -> list[str]:
    """Every value the `Literal` alternatives among `candidates` allow."""
    return [str(v) for c in candidates if get_origin(c) is Literal for v in get_args(c)]


def is_secret(candidates: Sequence[Any]) -> bool:
    """Whether the value is (or may be) a secret field."""
    return any(isinstance(c, type) and issubclass(c, SecretStr | SecretBytes) for c in candidates)


def secret_values(root: Any, data: Any, prefix: tuple[PathPart, ...] = ()) -> Iterator[SecretFound]:
    """`(path, text)` of every string in `data` that `root`'s annotations make a secret, valid or not."""
    yield from _secrets(expand(root), data, prefix)


def _secrets(candidates: list[Any], data: Any, path: tuple[PathPart, ...]) -> Iterator[SecretFound]:
    if not candidates:
        return
    if is_secret(candidates) and isinstance(data, str | int | float) and not isinstance(data, bool):
        yield path, str(data)
        return
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _secrets(child_types(candidates, str(key)), value, (*path, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _secrets(child_types(candidates, index), value, (*path, index))
