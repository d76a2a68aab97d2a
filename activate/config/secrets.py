"""Secret values of a project, and the masker that keeps them out of every message, log line and table."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from activate.config.hints import MASK

MIN_SECRET_LENGTH = 4
"""Shorter values are not masked: replacing every `ab` in a log would destroy it while protecting nothing."""


class SecretMasker:
    """Knows every secret value of a project and replaces each occurrence with `***`.

    Fed from the connection models' `SecretStr` fields (valid or not), the environment values substituted into them,
    and the password part of any URL among them or in the state store URL; provider secrets (`activate.secrets`)
    join while a run reads them, from any thread. Longer secrets are replaced first, so a secret containing another
    is masked whole. Its repr never shows a value.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*values)

    def add(self, *values: str) -> None:
        """Remember more secret values (a URL also contributes its password)."""
        with self._lock:
            for value in values:
                for candidate in (value, *url_password(value)):
                    if len(candidate) >= MIN_SECRET_LENGTH and candidate not in self._values:
                        self._values.add(candidate)
                        self._pattern = None

    def mask(self, text: str) -> str:
        """`text` with every known secret value replaced by `***`."""
        if not self._values or not text:
            return text
        with self._lock:
            if self._pattern is None:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            pattern = self._pattern
        return pattern.sub(MASK, text)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __repr__(self) -> str:
        return f"SecretMasker({len(self._values)} secrets)"


def url_password(value: str) -> tuple[str, ...]:
    """The password of a URL (as written and percent-decoded), when it has one."""
    if "://" not in value or "@" not in value:
        return ()
    try:
        password = urlsplit(value).password
    except ValueError:
        return ()
    if not password:
        return ()
    return (password, unquote(password)) if unquote(password) != password else (password,)
