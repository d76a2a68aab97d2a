"""Snowflake passwords and key passphrases from Vault, rotated: the real connector over HTTP to fakesnow's server
behind a login front that refuses a wrong password the way Snowflake does (`snowflake_login.py`: code 390100,
which the connector raises as `DatabaseError` errno 390100, SQLSTATE 28000), and an OpenBao dev server.

The source reader and the warehouse-native session both open through `activate.warehouse.refusal`: a refused login
re-reads the secret once and logs in again with a changed value; an unchanged one, or a second refusal, is one
line naming the connection and the reference, and a run fails `auth` with it (exit 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from secret_servers import ROOT_TOKEN, Bao
from snowflake_login import PasswordCheckingSnowflake, password_checking_snowflake
from typer.testing import CliRunner

from activate.cli.app import app
from activate.config import load_project
from activate.config.project import Project
from activate.http.caller import forget_callers
from activate.http.errors import AuthFailed
from activate.secrets.connections import new_session
from activate.secrets.session import secret_scope
from activate.sources.readers import open_reader
from activate.testing.webhook_sim import WebhookSimulator
from activate.warehouse.target import NativeTarget, open_session

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
runner = CliRunner()


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    forget_callers()
    yield
    forget_callers()


@pytest.fixture(scope="module")
def snowflake() -> Iterator[tuple[PasswordCheckingSnowflake, dict[str, Any]]]:
    import snowflake.connector

    with password_checking_snowflake("setup-pass") as (front, settings):
        con = snowflake.connector.connect(password="setup-pass", network_timeout=20, **settings)
        for statement in (
            "CREATE DATABASE IF NOT EXISTS rot_db",
            "CREATE SCHEMA IF NOT EXISTS rot_db.public",
            "CREATE OR REPLACE TABLE rot_db.public.people (ID INTEGER, EMAIL VARCHAR)",
            "INSERT INTO rot_db.public.people SELECT seq4() + 1, 'p' || seq4() || '@example.com' "
            "FROM TABLE(GENERATOR(ROWCOUNT => 30))",
        ):
            con.cursor().execute(statement)
        con.close()
        yield front, settings


def snowflake_project(root: Path, bao: Bao, settings: dict[str, Any], auth: str, extra: str = "") -> Project:
    """Connection `sf` to the front; `auth` is its credential lines (4-space indented YAML)."""
    (root / "activate.yml").write_text(
        f"""secrets:
  vault: {{url: "{bao.url}"}}
connections:
  sf:
    type: snowflake
    account: {settings["account"]}
    user: {settings["user"]}
{auth}
    host: {settings["host"]}
    port: {settings["port"]}
    protocol: http
    database: rot_db
    schema: public
    network_timeout: 20
"""
        + extra
    )
    return load_project(root)


PASSWORD_AUTH = '    password: "${vault:secret/data/sf#password}"'


def test_password_rotated_after_the_connection_opened_logs_in_after_one_reread(
    tmp_path: Path, bao: Bao, snowflake: tuple[PasswordCheckingSnowflake, dict[str, Any]]
) -> None:
    front, settings = snowflake
    front.password = "sf-old-1111"
    bao.put("sf", password="sf-old-1111")
    project = snowflake_project(tmp_path, bao, settings, PASSWORD_AUTH)
    reads, refused = bao.secret_reads("sf"), front.refused
    with secret_scope(new_session(project)):
        connection = project.connection("sf")  # read now: the old password
        bao.put("sf", password="sf-new-2222")  # the rotation job: Vault, then the account
        front.password = "sf-new-2222"
        reader = open_reader(connection, tmp_path)
        try:
            assert reader.columns("SELECT ID FROM people") == ["ID"]
            assert sum(b.num_rows for b in reader.batches("SELECT ID FROM people")) == 30
        finally:
            reader.close()
    assert front.refused == refused + 1  # the old password once, never again
    assert bao.secret_reads("sf") == reads + 2


def test_password_rotated_only_at_snowflake_is_one_line_naming_connection_and_reference(
    tmp_path: Path, bao: Bao, snowflake: tuple[PasswordCheckingSnowflake, dict[str, Any]]
) -> None:
    front, settings = snowflake
    bao.put("sf", password="sf-stale-3333")
    front.password = "sf-rotated-4444"
    project = snowflake_project(tmp_path, bao, settings, PASSWORD_AUTH)
    reads, refused = bao.secret_reads("sf"), front.refused
    with secret_scope(new_session(project)):
        reader = open_reader(project.connection("sf"), tmp_path)
        with pytest.raises(AuthFailed) as info:
            reader.columns("SELECT ID FROM people")
        reader.close()
    line = str(info.value)
    assert line == (
        "connection 'sf': ${vault:secret/data/sf#password} (activate.yml:8:16) refused after re-reading the secret; "
        "the secret is unchanged (rotate it in the provider, or fix its grant); refused with: cannot connect to "
        f"Snowflake account fakesnow: Failed to connect to DB: 127.0.0.1:{settings['port']}. Incorrect username or "
        "password was specified."
    )
    assert front.refused == refused + 1  # unchanged after the re-read: no second login with the same password
    assert bao.secret_reads("sf") == reads + 2
    assert "sf-stale-3333" not in line


def test_the_warehouse_native_session_opens_through_the_same_reread(
    tmp_path: Path, bao: Bao, snowflake: tuple[PasswordCheckingSnowflake, dict[str, Any]]
) -> None:
    front, settings = snowflake
    front.password = "native-old-5555"
    bao.put("sf", password="native-old-5555")
    project = snowflake_project(tmp_path, bao, settings, PASSWORD_AUTH)
    refused = front.refused
    with secret_scope(new_session(project)):
        target = NativeTarget(project.connection("sf"), "activate", separate_state=True)  # type: ignore[arg-type]
        bao.put("sf", password="native-new-6666")
        front.password = "native-new-6666"
        session = open_session(target, tmp_path, "activate:s:r")
        try:
            assert session.fetchone("SELECT COUNT(*) FROM people") == (30,)
        finally:
            session.close()
        front.password = "native-newer-7777"  # rotated again at Snowflake only: the one re-read is spent
        with pytest.raises(AuthFailed, match="refused after re-reading the secret; the new value was refused too"):
            open_session(target, tmp_path, "activate:s:r")
    assert front.refused == refused + 2


def _write_key(path: Path, key: rsa.RSAPrivateKey, passphrase: str) -> None:
    encryption = serialization.BestAvailableEncryption(passphrase.encode())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))


def test_key_passphrase_rotated_with_the_key_file_is_reread_once(
    tmp_path: Path, bao: Bao, snowflake: tuple[PasswordCheckingSnowflake, dict[str, Any]]
) -> None:
    _, settings = snowflake
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(tmp_path / "sf_key.p8", key, "passphrase-old-8888")
    bao.put("sfkey", passphrase="passphrase-old-8888")
    auth = '    private_key_path: sf_key.p8\n    private_key_passphrase: "${vault:secret/data/sfkey#passphrase}"'
    project = snowflake_project(tmp_path, bao, settings, auth)
    reads = bao.secret_reads("sfkey")
    with secret_scope(new_session(project)):
        connection = project.connection("sf")
        _write_key(tmp_path / "sf_key.p8", key, "passphrase-new-9999")  # the key file re-encrypted, Vault updated
        bao.put("sfkey", passphrase="passphrase-new-9999")
        reader = open_reader(connection, tmp_path)
        try:
            assert reader.columns("SELECT ID FROM people") == ["ID"]
        finally:
            reader.close()
    assert bao.secret_reads("sfkey") == reads + 2

    _write_key(tmp_path / "sf_key.p8", key, "passphrase-newer-0000")  # Vault left behind
    with secret_scope(new_session(project)):
        reader = open_reader(project.connection("sf"), tmp_path)
        with pytest.raises(AuthFailed) as info:
            reader.columns("SELECT ID FROM people")
        reader.close()
    line = str(info.value)
    assert line.startswith(
        "connection 'sf': ${vault:secret/data/sfkey#passphrase} (activate.yml:9:30) refused after re-reading the "
        "secret; the secret is unchanged (rotate it in the provider, or fix its grant); refused with: cannot decrypt "
        "Snowflake private key "
    )
    for secret in ("passphrase-old-8888", "passphrase-new-9999", "passphrase-newer-0000"):
        assert secret not in line


def test_a_run_whose_snowflake_password_is_stale_fails_auth_exit_1(
    tmp_path: Path, bao: Bao, snowflake: tuple[PasswordCheckingSnowflake, dict[str, Any]]
) -> None:
    front, settings = snowflake
    bao.put("sf", password="run-stale-1212")
    front.password = "run-rotated-3434"
    with WebhookSimulator() as sim:
        sync = {
            "name": "people_hook",
            "source": {"connection": "sf", "query": "SELECT ID, EMAIL FROM people", "primary_key": "ID"},
            "destination": {"connection": "hooks", "object": "people", "mapping": {"email": "EMAIL"}},
        }
        extra = f'  hooks: {{type: webhook, url: "{sim.url}"}}\n'
        snowflake_project(tmp_path, bao, settings, PASSWORD_AUTH, extra)
        (tmp_path / "syncs").mkdir()
        (tmp_path / "syncs" / "people_hook.yml").write_text(json.dumps(sync))
        reads = bao.secret_reads("sf")
        result = runner.invoke(app, ["run", "people_hook", "--project-dir", str(tmp_path), "--json"])
        assert not sim.rows("people")
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["status"], summary["failure_kind"]) == ("failed", "auth"), result.output
    assert summary["error"].startswith(
        "connection 'sf': ${vault:secret/data/sf#password} (activate.yml:8:16) refused after re-reading the secret"
    )
    assert bao.secret_reads("sf") == reads + 2
    for secret in ("run-stale-1212", "run-rotated-3434"):
        assert secret not in result.output
