"""Warehouse passwords from Vault, rotated: a Postgres warehouse that really checks passwords (a throwaway SCRAM
cluster, `password_postgres.py`) and an OpenBao dev server holding the password.

- rotated at the server and in Vault between runs: the next run reads the new value, no refusal;
- rotated during a run (after its first warehouse login, before the next): the refused login re-reads the secret
  once and the run succeeds;
- rotated only at the server (Vault stale), or in Vault to a value the server refuses too: the run fails `auth`,
  exit 1, with one line naming the connection and the reference; the secret is read exactly twice (no loop) and no
  password appears in any output or state table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from password_postgres import PasswordPostgres
from secret_servers import ROOT_TOKEN, Bao
from typer.testing import CliRunner

from activate.cli.app import app
from activate.http.caller import forget_callers
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

pytestmark = pytest.mark.postgres
runner = CliRunner()


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    forget_callers()
    yield
    forget_callers()


def warehouse_project(
    root: Path,
    pg: PasswordPostgres,
    bao: Bao,
    sim: WebhookSimulator,
    role: str,
    password: str,
    state: str = "warehouse",
) -> ScratchProject:
    """A sync reading `people` from the role's own database (`state: warehouse`: its per-row state there too, so a
    run logs in twice: the state session, then the diff's); the role's password is in Vault."""
    bao.put(role, password=password)
    pg.role(role, password)
    project = ScratchProject(root, warehouse_url=pg.url(role, password, role))
    project.people(40)
    project.settings["secrets"] = {"vault": {"url": bao.url}}
    project.connections["warehouse"] = {
        "type": "postgres",
        "url": f"postgresql+psycopg://{role}:${{vault:secret/data/{role}#password}}@127.0.0.1:{pg.port}/{role}",
    }
    project.add_connection("hooks", {"type": "webhook", "url": sim.url})
    project.add_sync(
        "people_hook",
        {"connection": "hooks", "object": "people", "mapping": {"email": "email", "score": "score"}},
        state=state,
    )
    return project


def run(project: ScratchProject) -> tuple[int, dict[str, Any], str]:
    """`activate run --json` with JSON logs: (exit code, summary, stdout and stderr, logs included)."""
    command = ["run", "people_hook", "--project-dir", str(project.root), "--json", "--log-format", "json"]
    result = runner.invoke(app, command)
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if summary:
        assert '"event": "run.finished"' in result.stderr, "the JSON logs are part of what the tests scan"
    return result.exit_code, summary, result.output


def project_state(project: ScratchProject) -> str:
    """Every row of every table of the project's state store (DuckDB), as text."""
    import duckdb

    con = duckdb.connect(str(project.root / ".activate" / "state.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        return "\n".join(str(con.execute(f'select * from "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def state_dump(pg: PasswordPostgres, role: str, password: str) -> str:
    """Every row of the warehouse-native state tables (schema `activate` of the role's database), as text."""
    import psycopg

    url = pg.url(role, password, role).replace("+psycopg", "")
    with psycopg.connect(url) as con:
        tables = [r[0] for r in con.execute("select tablename from pg_tables where schemaname = 'activate'")]
        return "\n".join(str(con.execute(f"select * from activate.{t}").fetchall()) for t in tables)  # type: ignore[arg-type]


def rotate_after_first_login(monkeypatch: pytest.MonkeyPatch, rotation: Any) -> list[int]:
    """Run `rotation` once, right after the run's first warehouse session logged in (the state store's; the plan's
    diff session logs in next): the moment a rotation job would catch between two logins of one run."""
    from activate.warehouse import postgres

    original = postgres.PostgresSession.__init__
    logins: list[int] = []

    def login_then_rotate(self: Any, connection: Any) -> None:
        original(self, connection)
        logins.append(1)
        if len(logins) == 1:
            rotation()

    monkeypatch.setattr(postgres.PostgresSession, "__init__", login_then_rotate)
    return logins


def test_password_rotated_between_runs_and_during_a_run(
    tmp_path: Path, password_pg: PasswordPostgres, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = "rot_during"
    with WebhookSimulator() as sim:
        project = warehouse_project(tmp_path, password_pg, bao, sim, role, "wh-pass-one-1111")
        reads = bao.secret_reads(role)
        code, summary, first = run(project)
        assert (code, summary["status"], summary["rows_succeeded"]) == (0, "succeeded", 40), first
        assert bao.secret_reads(role) == reads + 1  # read once for both sessions of the run

        # between runs: the next run starts from a fresh read, nothing is refused
        password_pg.set_password(role, "wh-pass-two-2222")
        bao.put(role, password="wh-pass-two-2222")
        project.warehouse_url = password_pg.url(role, "wh-pass-two-2222", role)
        project.execute("update people set score = score + 1 where id <= 5")
        code, summary, second = run(project)
        assert (code, summary["status"], summary["rows_succeeded"]) == (0, "succeeded", 5), second
        assert bao.secret_reads(role) == reads + 2

        # during a run: the state session logged in with the old password, the diff session's login is refused
        def rotate() -> None:
            password_pg.set_password(role, "wh-pass-three-3333")
            bao.put(role, password="wh-pass-three-3333")

        project.execute("update people set score = score + 1 where id <= 7")
        logins = rotate_after_first_login(monkeypatch, rotate)
        code, summary, third = run(project)
        assert (code, summary["status"], summary["rows_succeeded"]) == (0, "succeeded", 7), third
        assert len(logins) == 2  # the state session, then the diff session after its one retry
        assert bao.secret_reads(role) == reads + 4  # read once, re-read once
    outputs = [first, second, third, state_dump(password_pg, role, "wh-pass-three-3333")]
    for secret in ("wh-pass-one-1111", "wh-pass-two-2222", "wh-pass-three-3333"):
        assert not any(secret in text for text in outputs)


def test_password_rotated_only_at_the_server_fails_auth_after_one_reread(
    tmp_path: Path, password_pg: PasswordPostgres, bao: Bao
) -> None:
    role = "rot_stale"
    with WebhookSimulator() as sim, WebhookSimulator() as alerts:
        project = warehouse_project(tmp_path, password_pg, bao, sim, role, "stale-pass-4444", state="local")
        project.add_connection("alerts_hook", {"type": "webhook", "url": alerts.url})
        project.settings["alerts"] = [{"connection": "alerts_hook", "on": ["failed"]}]
        project.write()
        password_pg.set_password(role, "server-only-5555")  # the rotation job updated the warehouse, not Vault
        reads = bao.secret_reads(role)
        code, summary, output = run(project)
        assert not sim.rows("people")
        alert = json.dumps(alerts.records)
    assert "refused after re-reading the secret" in alert
    assert code == 1, output
    assert (summary["status"], summary["failure_kind"]) == ("failed", "auth"), output
    assert bao.secret_reads(role) == reads + 2  # read, re-read once, never again
    line = summary["error"]
    assert "\n" not in line
    assert re.fullmatch(
        r"connection 'warehouse': \$\{vault:secret/data/rot_stale#password\} \(activate\.yml:8:46\) refused after "
        r"re-reading the secret; the secret is unchanged \(rotate it in the provider, or fix its grant\); refused "
        r"with: cannot connect to the Postgres warehouse: .*password authentication failed for user \"rot_stale\"",
        line,
    ), line
    recorded = project_state(project)
    assert "refused after re-reading the secret" in recorded  # the run's row in activate_runs says it
    for secret in ("stale-pass-4444", "server-only-5555"):
        assert secret not in output  # the summary and every JSON log line
        assert secret not in recorded
        assert secret not in alert


def test_vault_rotated_to_a_value_the_server_refuses_too(
    tmp_path: Path, password_pg: PasswordPostgres, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = "rot_wrong"
    with WebhookSimulator() as sim:
        project = warehouse_project(tmp_path, password_pg, bao, sim, role, "first-pass-6666")

        def rotate() -> None:  # Vault and the server disagree after this rotation
            password_pg.set_password(role, "server-pass-7777")
            bao.put(role, password="vault-pass-8888")

        rotate_after_first_login(monkeypatch, rotate)
        reads = bao.secret_reads(role)
        code, summary, output = run(project)
    assert code == 1, output
    assert (summary["status"], summary["failure_kind"]) == ("failed", "auth"), output
    assert bao.secret_reads(role) == reads + 2
    assert re.fullmatch(
        r"connection 'warehouse': \$\{vault:secret/data/rot_wrong#password\} \(activate\.yml:\d+:\d+\) refused after "
        r"re-reading the secret; the new value was refused too: cannot connect to the Postgres warehouse: .*password "
        r"authentication failed for user \"rot_wrong\"",
        summary["error"],
    ), summary["error"]
    for secret in ("first-pass-6666", "server-pass-7777", "vault-pass-8888"):
        assert secret not in output


def test_stale_password_for_the_warehouse_state_session_is_one_line_and_exit_1(
    tmp_path: Path, password_pg: PasswordPostgres, bao: Bao
) -> None:
    role = "rot_state"
    with WebhookSimulator() as sim:
        warehouse_project(tmp_path, password_pg, bao, sim, role, "state-pass-9999")
        password_pg.set_password(role, "server-only-0000")
        reads = bao.secret_reads(role)
        result = runner.invoke(app, ["run", "people_hook", "--project-dir", str(tmp_path), "--json"])
        assert not sim.rows("people")
    assert result.exit_code == 1, result.output
    assert bao.secret_reads(role) == reads + 2
    # the warehouse is opened inside the run: the refusal is a recorded run that failed `auth`, with the one line
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    (summary,) = [line for line in lines if line["type"] == "run"]
    assert (summary["status"], summary["failure_kind"]) == ("failed", "auth"), result.output
    line = summary["error"]
    assert "connection 'warehouse': ${vault:secret/data/rot_state#password} (activate.yml:8:46) refused after " in line
    for secret in ("state-pass-9999", "server-only-0000"):
        assert secret not in result.output
