"""The wording of config errors: closest-match suggestions and values shown the way the user wrote them."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from typing import Any

MASK = "***"


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `word`, when one is close enough to be a plausible typo."""
    options = [c for c in candidates if c != word]
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not found:
        # Case slips ("Upsert", "HUBSPOT") are below difflib's ratio for short words but obviously meant.
        found = [c for c in options if c.lower() == word.lower()][:1]
    return found[0] if found else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """`did you mean 'mapping'?`, or None when nothing is close."""
    match = closest(word, candidates)
    return f"did you mean '{match}'?" if match else None


def suggest(word: str, candidates: Iterable[str], label: str) -> str:
    """The closest candidate when there is one, else the full list: `did you mean 'x'?` / `valid keys: a, b`."""
    pool = list(candidates)
    return did_you_mean(word, pool) or f"{label}: {', '.join(pool) if pool else '(none)'}"


def show(value: Any, *, secret: bool = False) -> str:
    """A value as an error message quotes it: `'abc'`, `12`, `true`, `null`, `a mapping`."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret:
        return MASK
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return f"the date {value.isoformat()}"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def quote_hint(value: Any) -> str | None:
    """For a number, boolean or date where text was expected: how to write it as a string."""
    if isinstance(value, bool | int | float | dt.date):
        plain = show(value).removeprefix("the date ")
        return f'quote it to keep it as text: "{plain}"'
    return None
