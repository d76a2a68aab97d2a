"""`${VAR}` / `${VAR:-default}` / `$${` resolution, alone and through the loader (unset variables with position)."""

from __future__ import annotations

import pytest

from activate.config import load_project
from activate.config.env import resolve_env
from activate.errors import ConfigError


def test_variables_defaults_and_escapes() -> None:
    data = {
        "plain": "no references",
        "whole": "${TOKEN}",
        "inside": "Bearer ${TOKEN}!",
        "default_unset": "${MISSING:-fallback}",
        "default_empty": "${EMPTY:-fallback}",
        "empty_default": "x${MISSING:-}y",
        "escaped": "$${TOKEN} and $$HOME",
        "nested": [{"deep": "${PORT}"}],
        "number": 5,
    }
    resolved = resolve_env(data, {"TOKEN": "t0k3n", "EMPTY": "", "PORT": "5432"})

    assert resolved.problems == []
    assert resolved.data == {
        "plain": "no references",
        "whole": "t0k3n",
        "inside": "Bearer t0k3n!",
        "default_unset": "fallback",
        "default_empty": "fallback",
        "empty_default": "xy",
        "escaped": "${TOKEN} and $$HOME",
        "nested": [{"deep": "5432"}],
        "number": 5,
    }
    assert resolved.substituted == {"whole": ["t0k3n"], "inside": ["t0k3n"], "nested[0].deep": ["5432"]}


def test_an_empty_value_without_default_is_kept() -> None:
    assert resolve_env({"a": "[${EMPTY}]"}, {"EMPTY": ""}).data == {"a": "[]"}


def test_every_unset_and_malformed_reference_is_reported() -> None:
    resolved = resolve_env({"a": "${ONE} ${TWO}", "b": ["${bad-name}"]}, {})
    assert [(p.path, p.name, p.message) for p in resolved.problems] == [
        ("a", "ONE", "environment variable 'ONE' is not set"),
        ("a", "TWO", "environment variable 'TWO' is not set"),
        ("b[0]", None, "malformed environment reference in '${bad-name}'"),
    ]
    assert "${ONE:-default}" in resolved.problems[0].hint


def test_unset_variables_are_positioned_at_the_reference(make_project) -> None:
    root = make_project(
        """
        connections:
          warehouse: {type: duckdb, path: "${WAREHOUSE_PATH:-warehouse.duckdb}"}
          chat:
            type: testchat
            token: "${CHAT_TOKEN}"
        """,
        {
            "syncs/s.yml": """
                source:
                  connection: warehouse
                  query: |
                    select *
                    from ${SCHEMA}.alerts
                  primary_key: id
                destination: {connection: chat, object: "${OBJECT}"}
            """
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_project(root, env={})
    assert [str(i).split(" (")[0] for i in caught.value.issues] == [
        "activate.yml:5:13: connections.chat.token: environment variable 'CHAT_TOKEN' is not set",
        "syncs/s.yml:5:10: source.query: environment variable 'SCHEMA' is not set",
        "syncs/s.yml:7:42: destination.object: environment variable 'OBJECT' is not set",
    ]
    assert caught.value.issues[0].hint == (
        "export CHAT_TOKEN=..., or give a default with ${CHAT_TOKEN:-default}; $${ gives a literal ${"
    )

    project = load_project(root, env={"CHAT_TOKEN": "xoxb-1", "SCHEMA": "prod", "OBJECT": "alerts"})
    assert project.sync("s").query == "select *\nfrom prod.alerts\n"
    assert project.sync("s").spec.destination.object == "alerts"
    assert project.connection("warehouse").path == "warehouse.duckdb"  # type: ignore[attr-defined]
