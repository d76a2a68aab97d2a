"""Where each value of a YAML file sits, so every config error can point at `file:line:col`.

Paths are written the way errors show them: mapping keys joined by `.`, list items as `[i]`
(`destination.mapping.email`, `source.primary_key[1]`, `message.blocks[0].text`). Lines and columns are 1-based.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PathPart = str | int
"""One step of a path into a document: a mapping key or a list index."""


def format_path(parts: Iterable[PathPart]) -> str:
    """`("source", "primary_key", 1)` -> `source.primary_key[1]`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _parent(path: str) -> str | None:
    """The path one step up, or None at the document root."""
    if not path:
        return None
    if path.endswith("]"):
        return path[: path.rindex("[")]
    # A key containing a dot (`Account.External_Id__c`) is cut in two here; the walk then climbs once more and
    # still lands on an existing parent, which is all a position lookup needs.
    return path[: max(path.rfind("."), 0)]


@dataclass(frozen=True)
class Span:
    """Where one entry of a document sits: its key (or list item) and its value.

    `block` is true for `|` and `>` scalars, whose text starts on the line after `value`.
    """

    key: tuple[int, int]
    value: tuple[int, int]
    block: bool = False


@dataclass(frozen=True)
class Positions:
    """Line and column of every key and value of one YAML file.

    Invariant: a lookup never fails. A path that is absent (a missing key, a default) resolves to its nearest
    existing parent, and ultimately to the start of the file, so an error always has a position.
    """

    file: str
    spans: dict[str, Span] = field(default_factory=dict, repr=False)

    def span(self, path: str | Iterable[PathPart]) -> Span:
        """The span of `path`, or of its nearest existing parent."""
        text: str | None = path if isinstance(path, str) else format_path(path)
        while text is not None:
            found = self.spans.get(text)
            if found is not None:
                return found
            text = _parent(text)
        return Span((1, 1), (1, 1))

    def at(self, path: str | Iterable[PathPart]) -> tuple[int, int]:
        """Where the entry at `path` starts (its key in a mapping, the item in a list): `(line, column)`."""
        return self.span(path).key

    def value_at(self, path: str | Iterable[PathPart]) -> tuple[int, int]:
        """Where the value at `path` starts: `(line, column)`; the nearest parent's when absent."""
        return self.span(path).value

    def has(self, path: str | Iterable[PathPart]) -> bool:
        """Whether `path` itself (not a parent) is written in the file."""
        return (path if isinstance(path, str) else format_path(path)) in self.spans

    def where(self, path: str | Iterable[PathPart] = "") -> str:
        """`syncs/x.yml:12:5`: the entry at `path`, for messages."""
        line, column = self.at(path)
        return f"{self.file}:{line}:{column}"
