"""Issue 17: no validation message echoes a value that came from the environment; it names the reference instead,
whatever the field and whatever the variable is called. Scanned in stdout, stderr and `--json` of `validate`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activate.cli.app import app

LEAK = "LEAKME-7f3a9c"

BASE = """
connections:
  warehouse: {type: duckdb, path: w.duckdb}
  hooks:
    type: webhook
    url: http://127.0.0.1:9
"""
SYNC = """
source: {connection: warehouse, query: "select 1 as id", primary_key: id}
destination: {connection: hooks, object: people}
"""

# (activate.yml addition or None, sync file or None, env, the expected message)
CASES = {
    "number": (
        "    timeout: ${PW}\n",
        None,
        {"PW": LEAK},
        "activate.yml:6:14: connections.hooks.timeout: the value of ${PW} is not a number",
    ),
    "integer": (
        "    batch_size: ${SIZE}\n",
        None,
        {"SIZE": LEAK},
        "activate.yml:6:17: connections.hooks.batch_size: the value of ${SIZE} is not an integer",
    ),
    "bound": (
        "    batch_size: ${SIZE}\n",
        None,
        {"SIZE": "-91827364"},
        "activate.yml:6:17: connections.hooks.batch_size: the value of ${SIZE} must be greater than 0",
    ),
    "validator": (
        '    url: "ftp://u:${WEBHOOK_PASS}@example.com"\n',
        None,
        {"WEBHOOK_PASS": LEAK},
        "activate.yml:5:10: connections.hooks.url: the value of 'ftp://u:${WEBHOOK_PASS}@example.com' is not valid: "
        "expected an http:// or https:// URL, got the value of 'ftp://u:${WEBHOOK_PASS}@example.com'",
    ),
    "mapping": (
        "    headers: ${HEADERS}\n",
        None,
        {"HEADERS": LEAK},
        "activate.yml:6:14: connections.hooks.headers: the value of ${HEADERS} is not a mapping (key: value)",
    ),
    "literal": (
        None,
        SYNC.replace("object: people}", "object: people, mode: '${MODE}'}"),
        {"MODE": LEAK},
        "syncs/s.yml:2:56: destination.mode: the value of ${MODE} is not one of upsert, update, insert, mirror",
    ),
    "boolean": (
        None,
        SYNC + "guardrails: {allow_empty_source: '${FLAG}'}\n",
        {"FLAG": LEAK},
        "syncs/s.yml:3:34: guardrails.allow_empty_source: the value of ${FLAG} is not true or false",
    ),
    "percent": (
        None,
        SYNC + "guardrails: {max_deletes: '${MAX}'}\n",
        {"MAX": LEAK},
        "syncs/s.yml:3:27: guardrails.max_deletes: the value of ${MAX} is not valid: expected a count like 50 or a "
        "percentage like '5%', got the value of ${MAX}",
    ),
    "union": (
        None,
        SYNC.replace("primary_key: id", "primary_key: {a: '${KEY}'}"),
        {"KEY": LEAK},
        None,  # a mapping where a string or list is expected: the message shows no value at all
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_validation_message_echoes_an_environment_value(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    addition, sync, env, expected = CASES[case]
    project = textwrap.dedent(BASE).lstrip("\n")
    if addition and addition.startswith("    url:"):
        project = project.replace("    url: http://127.0.0.1:9\n", "")
    (tmp_path / "activate.yml").write_text(project + (addition or ""))
    (tmp_path / "syncs").mkdir()
    (tmp_path / "syncs" / "s.yml").write_text(textwrap.dedent(sync or SYNC).lstrip("\n"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    plain = runner.invoke(app, ["validate", "--project-dir", str(tmp_path)])
    as_json = runner.invoke(app, ["validate", "--project-dir", str(tmp_path), "--json"])
    assert plain.exit_code == as_json.exit_code == 2, plain.output
    for result in (plain, as_json):
        for value in env.values():
            assert value not in result.stdout + result.stderr
    if expected is not None:
        assert expected in " ".join(plain.stderr.split()), plain.stderr
