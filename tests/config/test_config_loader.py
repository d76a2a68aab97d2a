"""load_project on a valid project, on projects with many broken files, and the Project / LoadedSync API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests_config_support import EXAMPLE, EXAMPLE_ENV, PLUGINS

from activate.config import LoadedSync, load_project
from activate.errors import ConfigError, UsageError
from activate.sources.config import DuckDBConnection, PostgresConnection

CRM = """
    connections:
      warehouse: {type: duckdb, path: warehouse.duckdb}
      crm:
        type: testcrm
        auth: {method: token, token: crm-secret-token}
"""


def test_example_project_loads() -> None:
    project = load_project(EXAMPLE, env=EXAMPLE_ENV)

    assert project.root == EXAMPLE.resolve()
    assert list(project.syncs) == ["chat_alerts", "crm_accounts", "crm_contacts"]
    assert isinstance(project.connection("warehouse"), DuckDBConnection)
    assert isinstance(project.connection("pg"), PostgresConnection)
    crm = project.connection("crm")
    assert crm.type == "testcrm"
    assert crm.base_url == "https://crm.example.com"  # type: ignore[attr-defined]  # ${CRM_URL:-...} default
    assert crm.auth.token.get_secret_value() == "crm-token-1234"  # type: ignore[attr-defined]
    assert project.spec.timezone == "Europe/Paris"

    contacts = project.sync("crm_contacts")
    assert contacts.spec.name == "crm_contacts"  # defaults to the file stem
    assert contacts.file == EXAMPLE.resolve() / "syncs" / "crm_contacts.yml"
    assert contacts.query == "select * from customers where email is not null"
    assert contacts.spec.guardrails.max_deletes is not None
    assert str(contacts.spec.guardrails.max_deletes) == "5%"
    assert project.sync("chat_alerts").query == "select * from analytics.alerts"
    accounts = project.sync("crm_accounts")
    assert accounts.query == "select region, account_id, domain, account_name from accounts\n"
    assert accounts.spec.source.key_columns == ["region", "account_id"]
    assert accounts.spec.after == ["crm_contacts"]


def test_run_order_puts_each_sync_after_the_ones_it_waits_for() -> None:
    project = load_project(EXAMPLE, env=EXAMPLE_ENV)
    assert project.run_order() == ["crm_contacts", "crm_accounts", "chat_alerts"]
    assert project.run_order(["chat_alerts", "crm_accounts"]) == ["crm_accounts", "chat_alerts"]
    with pytest.raises(UsageError):
        project.run_order(["nope"])


def test_where_and_positions_point_into_the_sync_file() -> None:
    contacts = load_project(EXAMPLE, env=EXAMPLE_ENV).sync("crm_contacts")

    assert contacts.where("destination.mapping.email") == "syncs/crm_contacts.yml:11:5"
    assert contacts.positions.at("destination.mapping.email") == (11, 5)
    assert contacts.positions.value_at("destination.mapping.email") == (11, 12)
    # absent paths resolve to their nearest written parent
    assert contacts.positions.at("destination.mapping.nope") == (10, 3)
    assert contacts.where("guardrails.allow_empty_source") == "syncs/crm_contacts.yml:16:1"
    assert contacts.where("state") == "syncs/crm_contacts.yml:1:1"


def test_columns_used_lists_every_source_column_with_where_it_is_read() -> None:
    project = load_project(EXAMPLE, env=EXAMPLE_ENV)

    assert project.sync("crm_contacts").columns_used() == {
        "email": "destination.mapping.email",
        "first_name": "destination.mapping.firstname",
        "ltv": "destination.mapping.lifetime_value",
        "plan": "destination.mapping.tier",
    }
    assert project.sync("chat_alerts").columns_used() == {
        "title": "destination.message.text",
        "body": "destination.message.text",
        "severity": "destination.message.blocks[0].text.text",
        "channel": "destination.channel",
    }


def test_every_issue_of_every_file_in_one_error(make_project) -> None:
    root = make_project(
        CRM + "      chat: {type: testchat}\n      pg: {type: postgress, url: x}\n",
        {
            "syncs/a.yml": """
                source: {connection: warehouse, table: t, primary_key: id}
                destination: {connection: crm, object: contacts, match: email, mode: upsret, mapping: {email: e}}
                after: [b]
                schedule: every day
            """,
            "syncs/b.yml": """
                source: {connection: warehous, table: t}
                destination: {connection: crm, object: contacts, match: email, mapings: {}}
                after: [a]
            """,
            "syncs/c.yml": "name: a\nsource: {connection: warehouse, table: t, primary_key: id}\n"
            "destination: {connection: crm, object: contacts, match: email, mapping: {x: '{{ row.x'}}\n",
            "syncs/d.yaml": "source: [unclosed\n",
            "syncs/notes.txt": "not a sync file",
        },
    )

    with pytest.raises(ConfigError) as caught:
        load_project(root, env={})

    # activate.yml first, then sync files by name; within a file, by position
    actual = [re.sub(r"; known types: [^)]*", "; known types: ...", str(i)) for i in caught.value.issues]
    assert actual == [
        "activate.yml:6:3: connections.chat: missing required key 'token'",
        "activate.yml:7:14: connections.pg.type: unknown connection type 'postgress' (did you mean 'postgres'?; "
        "known types: ...)",
        "syncs/a.yml:2:70: destination.mode: 'upsret' is not one of upsert, update, insert, mirror "
        "(did you mean 'upsert'?)",
        "syncs/a.yml:3:9: after[0]: sync dependencies form a cycle: a -> b -> a, also linked at syncs/b.yml:3:9 "
        "(remove one of these links)",
        "syncs/a.yml:4:11: schedule: invalid cron expression 'every day': expected 5 fields, got 2 "
        "(five fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *', or @hourly / @daily)",
        "syncs/b.yml:1:1: source: missing required key 'primary_key'",
        "syncs/b.yml:1:22: source.connection: unknown connection 'warehous' (did you mean 'warehouse'?; "
        "source connections: warehouse)",
        "syncs/b.yml:2:64: destination: unknown key 'mapings' (did you mean 'mapping'?)",
        "syncs/b.yml:3:9: after[0]: sync dependencies form a cycle: a -> b -> a, also linked at syncs/a.yml:3:9 "
        "(remove one of these links)",
        "syncs/c.yml:1:7: name: duplicate sync name 'a': also defined in syncs/a.yml:1:1 "
        "(sync names must be unique across syncs/*.yml; name defaults to the file name)",
        "syncs/c.yml:3:57: destination.match: match field 'email' is not a mapped destination field "
        "(add it to destination.mapping, e.g. email: <column>)",
        "syncs/c.yml:3:77: destination.mapping.x: invalid Jinja template: unexpected end of template, "
        "expected 'end of print statement'",
        "syncs/d.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence started at line 1)",
    ]
    assert caught.value.exit_code == 2


def test_a_plugin_that_fails_to_load_is_an_issue_not_a_crash(make_project) -> None:
    root = make_project(CRM + "      broken: {type: testbroken}\n", {"syncs/s.yml": "source: {connection: nowhere}\n"})
    with pytest.raises(ConfigError) as caught:
        load_project(root, env={})
    assert [str(i) for i in caught.value.issues][:2] == [
        "activate.yml:6:18: connections.broken.type: destination type 'testbroken' is not available: AttributeError: "
        "module 'activate_config_testplugins' has no attribute 'no_such_plugin' "
        "(check that the package providing it is installed)",
        "syncs/s.yml:1:1: source: missing required key 'primary_key'",
    ]


def test_state_url_password_is_a_secret(make_project) -> None:
    root = make_project(
        """
        state: {url: "postgresql+psycopg://app:${STATE_PW}@db:5432/state"}
        connections: {}
        """
    )
    project = load_project(root, env={"STATE_PW": "st4te-pw"})
    assert project.secrets.mask("password authentication failed: st4te-pw") == "password authentication failed: ***"
    assert project.spec.state.url == "postgresql+psycopg://app:st4te-pw@db:5432/state"


def test_missing_project_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path, env={})
    (issue,) = caught.value.issues
    assert issue.file == "activate.yml"
    assert issue.message == f"not found in {tmp_path.resolve()}"
    assert issue.hint is not None
    assert "activate init" in issue.hint


def test_project_dir_defaults_to_the_environment_variable(make_project) -> None:
    root = make_project(CRM)
    project = load_project(env={"ACTIVATE_PROJECT_DIR": str(root)})
    assert project.root == root.resolve()
    assert project.syncs == {}


def test_an_empty_sync_file_names_what_it_lacks(make_project) -> None:
    root = make_project(CRM, {"syncs/empty.yml": "# nothing yet\n"})
    with pytest.raises(ConfigError) as caught:
        load_project(root, env={})
    assert [str(i) for i in caught.value.issues] == [
        "syncs/empty.yml:1:1: missing required key 'source'",
        "syncs/empty.yml:1:1: missing required key 'destination'",
    ]


def test_unknown_sync_and_connection_are_usage_errors_naming_the_closest() -> None:
    project = load_project(EXAMPLE, env=EXAMPLE_ENV)

    with pytest.raises(UsageError) as caught:
        project.sync("crm_contact")
    assert str(caught.value) == (
        "unknown sync 'crm_contact' (did you mean 'crm_contacts'?); "
        "known syncs: chat_alerts, crm_accounts, crm_contacts"
    )
    assert caught.value.exit_code == 2
    with pytest.raises(UsageError, match=r"unknown connection 'wharehouse' \(did you mean 'warehouse'\?\)"):
        project.connection("wharehouse")


def _sync(make_project, mapping: str, extra: str = "") -> LoadedSync:
    root = make_project(
        CRM,
        {
            "syncs/s.yml": f"""
                source: {{connection: warehouse, table: t, primary_key: id}}
                destination: {{connection: crm, object: contacts, match: email, mapping: {mapping}}}
                {extra}
            """
        },
    )
    return load_project(root, env={}).sync("s")


def test_config_hash_follows_the_payload_not_the_formatting(make_project) -> None:
    base = _sync(make_project, "{email: email, name: first_name}").config_hash
    reordered = _sync(make_project, "{name: first_name, email: email}", "schedule: '@daily'").config_hash
    edited = _sync(make_project, "{email: email, name: '{{ row.first_name }}'}").config_hash

    assert len(base) == 64
    assert reordered == base  # key order and schedule do not decide what is written
    assert edited != base


def test_config_hash_is_stable_across_processes() -> None:
    here = load_project(EXAMPLE, env=EXAMPLE_ENV)
    script = (
        "import json, sys\n"
        "from activate.config import load_project\n"
        f"p = load_project({str(EXAMPLE)!r}, env=json.loads(sys.argv[1]))\n"
        "print(json.dumps({n: s.config_hash for n, s in p.syncs.items()}))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(PLUGINS)]), "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(EXAMPLE_ENV)], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == {name: sync.config_hash for name, sync in here.syncs.items()}
