"""The toolkit's public API is exactly its `__all__`."""

from __future__ import annotations

import activate.http as toolkit


def test_public_names_are_exported() -> None:
    public = {name for name in dir(toolkit) if not name.startswith("_")}
    modules = {"budget", "caller", "classify", "errors", "limiter", "limits", "policy", "stats", "annotations"}
    assert public - modules == set(toolkit.__all__)
    assert all(getattr(toolkit, name) is not None for name in toolkit.__all__)
