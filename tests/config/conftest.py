"""Config tests: test destination plugins registered through the real entry point mechanism, and project builders."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from activate.destinations import registry

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture(autouse=True)
def test_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`testcrm` and `testchat` destinations, installed as a distribution on sys.path for the test's duration."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    registry.refresh()
    yield
    registry.refresh()


ProjectFactory = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Write a project: `make_project(activate_yml, {"syncs/a.yml": text, ...})`, texts dedented."""

    def make(activate_yml: str | None, files: dict[str, str] | None = None) -> Path:
        if activate_yml is not None:
            (tmp_path / "activate.yml").write_text(textwrap.dedent(activate_yml).lstrip("\n"))
        for name, text in (files or {}).items():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"))
        return tmp_path

    return make
