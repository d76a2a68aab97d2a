"""Issue 12 acceptance 6: docs/reference.md is generated from the models and the CLI, covers every key of every
model and every command, exit code and environment variable, and fails this test when it drifts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from activate import docgen
from activate.config.models import ProjectSpec, SyncSpec
from activate.exits import EXIT_CODES

PACKAGE = Path(docgen.__file__).resolve().parent


@pytest.fixture(scope="module")
def reference() -> str:
    return docgen.generate()


def test_the_committed_reference_is_the_generated_one(reference: str) -> None:
    committed = docgen.REFERENCE.read_text(encoding="utf-8")
    assert committed == reference, "docs/reference.md drifted from the code: run python -m activate.docgen"
    assert docgen.main(["--check"]) == 0


def _paths(model: type[BaseModel]) -> set[str]:
    return {path for path, *_ in docgen._rows(model, "", {model})}


@pytest.mark.parametrize("model", [ProjectSpec, SyncSpec], ids=["activate.yml", "sync file"])
def test_every_key_of_the_project_and_sync_files_is_documented(reference: str, model: type[BaseModel]) -> None:
    paths = _paths(model)
    assert {"targets.<name>.connections", "default_target", "state.url"} <= paths or "tags" in paths
    for path in paths:
        assert f"| `{path}` |" in reference, path
    for name, info in model.model_fields.items():
        assert f"| `{info.alias or name}` |" in reference


def test_every_connection_type_and_field_is_documented(reference: str) -> None:
    models = docgen._connection_models()
    assert {name for name, _ in models} >= {"duckdb", "sqlite", "postgres", "snowflake", "hubspot", "salesforce"}
    for name, model in models:
        section = reference.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        for path in _paths(model):
            assert f"| `{path}` |" in section, (name, path)


def test_secrets_are_marked(reference: str) -> None:
    section = reference.split("### `postgres`\n", 1)[1].split("\n### ", 1)[0]
    assert "| `url` | string | required | **secret.**" in section


def test_every_command_exit_code_and_environment_variable_is_documented(reference: str) -> None:
    for name in docgen.command_names():
        assert f"### `{name}`" in reference
    assert {"plan", "run", "explain", "runs", "rows", "status", "validate"} <= set(docgen.command_names())
    for code in EXIT_CODES:
        assert re.search(rf"^\| {code} \| ", reference, re.MULTILINE), code
    used = set()
    for source in PACKAGE.rglob("*.py"):
        if "testing" not in source.parts:
            used |= set(re.findall(r"\"(ACTIVATE_[A-Z_]+)\"", source.read_text(encoding="utf-8")))
    assert used <= set(docgen.ENVIRONMENT), used - set(docgen.ENVIRONMENT)
    for variable in docgen.ENVIRONMENT:
        assert f"| `{variable}` |" in reference


def test_what_no_document_mentioned_before_is_there(reference: str) -> None:
    for needle in (
        "### `sqlite`",
        "with method: jwt",
        "with method: client_credentials",
        "rate_limit.requests",
        "| `tier` |",
        "| `after` |",
        "destination.batch_size",
        "ACTIVATE_DEBUG",
    ):
        assert needle in reference, needle
