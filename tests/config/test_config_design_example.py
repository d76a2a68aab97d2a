"""DESIGN §2's project validates against the real HubSpot, Salesforce and Slack plugins, and their mistakes are
reported with the same precision as the core's."""

from __future__ import annotations

from pathlib import Path

import pytest

from activate.config import load_project
from activate.errors import ConfigError

DESIGN = Path(__file__).parent / "design_example"
ENV = {"SF_KEY_PASS": "sf-pass-55", "HUBSPOT_TOKEN": "pat-na1-0042", "SLACK_BOT_TOKEN": "xoxb-9-9-9"}


def test_design_project_loads_with_the_vendor_plugins() -> None:
    project = load_project(DESIGN, env=ENV)

    kinds = {name: type(conn).__name__ for name, conn in project.spec.connections.items()}
    assert kinds == {
        "warehouse": "DuckDBConnection",
        "pg": "PostgresConnection",
        "snow": "SnowflakeConnection",
        "hubspot": "HubSpotConnection",
        "salesforce": "SalesforceConnection",
        "slack": "SlackConnection",
    }
    assert list(project.syncs) == ["hubspot_contacts", "salesforce_accounts", "slack_alerts"]
    assert project.secrets.mask(" ".join(ENV.values())) == "*** *** ***"
    assert all(value not in repr(project) for value in ENV.values())


def test_vendor_connection_mistakes_are_positioned(tmp_path: Path) -> None:
    (tmp_path / "activate.yml").write_text(
        "connections:\n"
        "  hs: {type: hubspot, acess_token: pat-na1-0042}\n"
        "  sf:\n"
        "    type: salesforce\n"
        "    instance_url: https://acme.my.salesforce.com\n"
        "    auth: {method: passwrd, username: u, password: hunter2222}\n"
        "  sl: {type: slack, token: 12345678}\n"
    )
    (tmp_path / "syncs").mkdir()
    (tmp_path / "syncs" / "s.yml").write_text(
        "source: {connection: sl, table: t, primary_key: id}\ndestination: {connection: hs, object: contacts}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path, env={})

    lines = [str(i) for i in caught.value.issues]
    assert "activate.yml:2:23: connections.hs: unknown key 'acess_token' (did you mean 'access_token'?)" in lines
    assert any(
        line.startswith("activate.yml:6:20: connections.sf.auth.method: 'passwrd' is not one of ")
        and line.endswith("(did you mean 'password'?)")
        for line in lines
    )
    assert "activate.yml:7:28: connections.sl.token: expected a string, got ***" in lines
    assert (
        "syncs/s.yml:1:22: source.connection: 'sl' is a slack connection (a destination), not a source "
        "(source connections: (none in activate.yml))" in lines
    )
    assert (
        "syncs/s.yml:2:1: destination: missing required key 'match' "
        "(hubspot writes by external id: name the destination field records are matched on)" in lines
    )
    for secret in ("pat-na1-0042", "hunter2222", "12345678"):
        assert secret not in str(caught.value)
