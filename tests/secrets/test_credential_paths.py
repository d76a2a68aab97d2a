"""Each credential path re-reads a provider secret once when it is refused: Slack tokens, Salesforce client secrets,
warehouse logins (Postgres, through the source reader). The connection is opened, then the secret rotates (in Vault
and at the service), as happens when a rotation job runs between a run's start and its first call; a second refusal
is one line."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from password_postgres import PasswordPostgres
from secret_servers import ROOT_TOKEN, Bao, Moto

from activate.clock import FakeClock
from activate.config import load_project
from activate.config.models import DestinationSpec
from activate.config.project import Project
from activate.destinations.base import RunStats, WriteContext
from activate.http.caller import forget_callers
from activate.http.errors import AuthFailed
from activate.secrets.connections import new_session
from activate.secrets.session import secret_scope
from activate.sources.readers import open_reader


@pytest.fixture(autouse=True)
def vault_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    forget_callers()
    yield
    forget_callers()


def project_with(root: Path, bao: Bao, connections: str) -> Project:
    (root / "activate.yml").write_text(
        f'secrets:\n  vault: {{url: "{bao.url}"}}\nconnections:\n' + textwrap.indent(textwrap.dedent(connections), "  ")
    )
    return load_project(root)


def context(connection: str, obj: str, **spec: object) -> WriteContext:
    destination = DestinationSpec.model_validate({"connection": connection, "object": obj, **spec})
    return WriteContext("s", "run-1", destination, RunStats(), FakeClock())


def test_slack_token_rotated_after_the_connection_opened(tmp_path: Path, bao: Bao) -> None:
    from activate.destinations.slack import plugin
    from activate.testing.slack import SlackSimulator

    bao.put("paths/slack", token="xoxb-old-1111")
    with SlackSimulator(token="xoxb-old-1111") as sim:
        project = project_with(
            tmp_path, bao, f'chat: {{type: slack, token: "${{vault:paths/slack#token}}", base_url: "{sim.base_url}"}}'
        )
        with secret_scope(new_session(project)):
            connection = project.connection("chat")
            bao.put("paths/slack", token="xoxb-new-2222")
            sim.token = "xoxb-new-2222"
            writer = plugin.create(connection, context("chat", "#general", message={"text": "hi"}))
            assert writer.check([]) == []  # refused once, re-read, accepted

            bao.put("paths/slack", token="xoxb-bad-3333")
            sim.token = "xoxb-other-4444"
            second = plugin.create(project.connection("chat"), context("chat", "#general", message={"text": "hi"}))
            problems = second.check([])
        assert problems == ["Slack refused the bot token (AUTH_FAILED): check the connection's token"]


def test_salesforce_client_secret_rotated_after_the_connection_opened(tmp_path: Path, bao: Bao) -> None:
    from activate.destinations.salesforce import plugin
    from activate.testing.salesforce import CONSUMER_KEY, CONSUMER_SECRET, SalesforceSimulator
    from activate.testing.salesforce.identity import ConnectedApp

    bao.put("paths/salesforce", secret=CONSUMER_SECRET)
    with SalesforceSimulator(tmp_path / "sf") as sim:
        project = project_with(
            tmp_path,
            bao,
            f"""
            crm:
              type: salesforce
              instance_url: "{sim.url}"
              login_url: "{sim.url}"
              ca_bundle: "{sim.ca_bundle}"
              auth: {{method: client_credentials, consumer_key: {CONSUMER_KEY},
                      consumer_secret: "${{vault:paths/salesforce#secret}}"}}
            """,
        )
        with secret_scope(new_session(project)) as session:
            connection = project.connection("crm")
            app = sim.identity.apps[CONSUMER_KEY]
            sim.identity.apps[CONSUMER_KEY] = ConnectedApp(CONSUMER_KEY, "rotated-secret-5555", app.public_key_pem)
            bao.put("paths/salesforce", secret="rotated-secret-5555")
            writer = plugin.create(connection, context("crm", "Account", match="Activate_Id__c"))
            try:
                assert writer.check(["Name"]) == []
            finally:
                writer.close()
            assert session.reads == 2
            assert sim.identity.logins == ["client_credentials"]

            sim.identity.apps[CONSUMER_KEY] = ConnectedApp(CONSUMER_KEY, "elsewhere-6666", app.public_key_pem)
            bao.put("paths/salesforce", secret="still-wrong-7777")
            writer = plugin.create(project.connection("crm"), context("crm", "Account", match="Activate_Id__c"))
            try:
                problems = writer.check(["Name"])
            finally:
                writer.close()
        assert len(problems) == 1
        assert "connection 'crm': ${vault:paths/salesforce#secret} (activate.yml:" in problems[0]
        assert "refused after re-reading the secret; the new value was refused too" in problems[0]
        for secret in ("rotated-secret-5555", "still-wrong-7777", CONSUMER_SECRET):
            assert secret not in problems[0]


@pytest.mark.postgres
def test_warehouse_login_rotated_after_the_connection_opened(
    tmp_path: Path, bao: Bao, password_pg: PasswordPostgres
) -> None:
    """Vault's database-secrets style: the whole URL (user and password) is the secret, and the old user is gone."""
    password_pg.role("reader_old", "old-login-1111")
    password_pg.role("reader_new", "new-login-2222")
    old = password_pg.url("reader_old", "old-login-1111", "reader_new")
    new = password_pg.url("reader_new", "new-login-2222", "reader_new")
    bao.put("paths/warehouse", url=old)
    project = project_with(tmp_path, bao, 'warehouse: {type: postgres, url: "${vault:paths/warehouse#url}"}')
    with secret_scope(new_session(project)):
        connection = project.connection("warehouse")  # read now: the old URL
        # the lease expired: the old login is gone, Vault hands out the new one
        password_pg.admin("DROP DATABASE reader_old", "DROP ROLE reader_old")
        bao.put("paths/warehouse", url=new)
        reader = open_reader(connection, tmp_path)
        try:
            assert reader.columns("select 1 as one") == ["one"]  # refused, re-read, connected
            assert [b.num_rows for b in reader.batches("select 1 as one")] == [1]  # later logins use the new URL
        finally:
            reader.close()

    bao.put("paths/warehouse", url=old)
    with secret_scope(new_session(project)):
        reader = open_reader(project.connection("warehouse"), tmp_path)
        with pytest.raises(AuthFailed) as refused:
            reader.columns("select 1")
        reader.close()
    line = str(refused.value)
    assert line.startswith(
        "connection 'warehouse': ${vault:paths/warehouse#url} (activate.yml:4:37) refused after re-reading the "
        "secret; the secret is unchanged (rotate it in the provider, or fix its grant); refused with: cannot connect "
        "to the Postgres warehouse: "
    )
    for secret in ("old-login-1111", "new-login-2222"):
        assert secret not in line


@pytest.mark.usefixtures("aws_env")
def test_hubspot_token_rotated_after_the_connection_opened(tmp_path: Path, moto: Moto) -> None:
    from activate.destinations.hubspot import plugin
    from activate.testing.hubspot import HubSpotSimulator

    moto.put("paths/hubspot", json.dumps({"token": "pat-old-8888"}))
    with HubSpotSimulator(token="pat-old-8888") as sim:
        (tmp_path / "activate.yml").write_text(
            f'secrets:\n  aws-sm: {{region: eu-west-1, endpoint_url: "{moto.url}"}}\nconnections:\n'
            f'  crm: {{type: hubspot, access_token: "${{aws-sm:paths/hubspot#token}}", base_url: "{sim.url}"}}\n'
        )
        project = load_project(tmp_path)
        with secret_scope(new_session(project)) as session:
            connection = project.connection("crm")
            moto.put("paths/hubspot", json.dumps({"token": "pat-new-9999"}))
            sim.tokens.add_private_app_token("pat-new-9999")
            sim.tokens.revoke("pat-old-8888")
            writer = plugin.create(connection, context("crm", "contacts", match="email"))
            try:
                assert writer.check(["email"]) == []  # refused once, re-read, accepted
            finally:
                writer.close()
            assert session.reads == 2
        assert [call.status for call in sim.log if "/properties/" in call.path] == [401, 200]
