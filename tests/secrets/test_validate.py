"""`validate` checks references without fetching (asserted on the servers' own logs); `validate --check-connections`
fetches each and reports it; every error class names provider, reference, file:line:col and the fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import duckdb
import pytest
from secret_servers import ROOT_TOKEN, Bao, Moto
from typer.testing import CliRunner

from activate.cli.app import app
from activate.config import load_project
from activate.errors import ConfigError

SYNC = """
source: {connection: warehouse, query: "select 1 as id, 'a@b.c' as email", primary_key: id}
destination: {connection: hooks, object: people, mapping: {email: email}}
"""


def write(root: Path, activate_yml: str, syncs: dict[str, str] | None = None) -> Path:
    (root / "activate.yml").write_text(textwrap.dedent(activate_yml).lstrip("\n"))
    (root / "syncs").mkdir(exist_ok=True)
    for name, text in (syncs or {"people.yml": SYNC}).items():
        (root / "syncs" / name).write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def issues(root: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project(root, env=env or {})
    return [str(i) for i in caught.value.issues]


def both_providers(bao: Bao, moto: Moto) -> str:
    return f"""
    secrets:
      vault: {{url: "{bao.url}"}}
      aws-sm: {{region: eu-west-1, endpoint_url: "{moto.url}"}}
    connections:
      warehouse: {{type: duckdb, path: w.duckdb}}
      hooks:
        type: webhook
        url: http://127.0.0.1:9
        headers:
          Authorization: "Bearer ${{vault:secret/data/validate/hook#token}}"
          X-Api-Key: "${{aws-sm:validate/key}}"
          X-Missing: "${{vault:secret/data/validate/absent#token}}"
    """


@pytest.mark.usefixtures("aws_env")
def test_validate_never_calls_a_provider_and_check_connections_reports_each_reference(
    tmp_path: Path, bao: Bao, moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    bao.put("validate/hook", token="validate-hook-token")
    moto.put("validate/key", "validate-api-key")
    root = write(tmp_path, both_providers(bao, moto))
    duckdb.connect(str(root / "w.duckdb")).close()  # the warehouse exists: --check-connections reads only secrets
    vault_before, aws_before = len(bao.requests()), moto.requests()

    result = CliRunner().invoke(app, ["validate", "--project-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert (len(bao.requests()), moto.requests()) == (vault_before, aws_before)  # not one request

    checked = CliRunner().invoke(app, ["validate", "--check-connections", "--project-dir", str(root), "--json"])
    assert checked.exit_code == 1
    lines = [json.loads(line) for line in checked.stdout.splitlines() if line.strip()]
    messages = [line.get("message") for line in lines if line.get("type") == "message"]
    assert (
        "activate.yml:10:30: connections.hooks.headers.Authorization: ${vault:secret/data/validate/hook#token}: "
        "resolved" in messages
    )
    assert "activate.yml:11:19: connections.hooks.headers.X-Api-Key: ${aws-sm:validate/key}: resolved" in messages
    errors = [json.loads(line)["error"] for line in checked.stderr.splitlines() if line.strip()]
    assert errors[0] == (
        "activate.yml:12:19: connections.hooks.headers.X-Missing: ${vault:secret/data/validate/absent#token}: vault: "
        f"no secret at secret/data/validate/absent on {bao.url} "
        "(write it with `bao kv put -mount=secret validate/absent ...`, or fix the path)"
    )
    assert bao.secret_reads("validate/hook") == 1
    for secret in ("validate-hook-token", "validate-api-key"):
        assert secret not in checked.stdout + checked.stderr


def test_reference_errors_at_load_have_positions_and_fixes(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """
        state: {url: "postgresql://u:${vault:secret/data/db#pw}@h/db"}
        secrets:
          vault: {auth: {method: approle, role_id: r, secret_id: "${aws-sm:sid}"}}
        connections:
          warehouse: {type: duckdb, path: w.duckdb}
          hooks:
            type: webhook
            url: http://127.0.0.1:9
            headers:
              A: "${vault:secret/data/hook}"
              B: "${gcp:projects/x}"
              C: "${aws-sm:prod/hubspot#token}"
              D: "${vault:secret/data/hook#token"
        """,
        {
            "people.yml": """
            source: {connection: warehouse, query: "select '${file:key.txt}' as id", primary_key: id}
            destination: {connection: hooks, object: people}
            """
        },
    )
    assert issues(root) == [
        "activate.yml:1:30: state.url: ${vault:secret/data/db#pw} cannot be used here (provider references are read "
        "when a connection opens: use them in connection settings)",
        "activate.yml:3:59: secrets.vault.auth.secret_id: ${aws-sm:sid} cannot be used here (a provider's own "
        "settings take ${NAME} or ${file:PATH}, not another provider's secret)",
        "activate.yml:10:11: connections.hooks.headers.A: a vault reference must name a secret path and a #field "
        "(write ${vault:secret/data/PATH#FIELD} (KV v2), e.g. ${vault:secret/data/hubspot#token})",
        "activate.yml:11:11: connections.hooks.headers.B: unknown secret provider 'gcp' "
        "(known providers: env, file, vault, aws-sm)",
        "activate.yml:12:11: connections.hooks.headers.C: ${aws-sm:prod/hubspot#token} needs the aws-sm provider, "
        "which activate.yml does not configure (add secrets: {aws-sm: {region: eu-west-1}})",
        "activate.yml:13:11: connections.hooks.headers.D: unclosed reference '${vault:secret/data/' (close it with })",
        "syncs/people.yml:1:49: source.query: ${file:key.txt} cannot be used here (provider references are read "
        "when a connection opens: use them in connections of activate.yml)",
    ]


def test_a_vault_reference_without_an_address_says_where_to_set_it(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """
        secrets:
          vault: {}
        connections:
          warehouse: {type: duckdb, path: w.duckdb}
          hooks: {type: webhook, url: "http://127.0.0.1:9", headers: {A: "${vault:hook#token}"}}
        """,
    )
    assert issues(root) == [
        "activate.yml:5:67: connections.hooks.headers.A: ${vault:hook#token}: no Vault address "
        "(set secrets.vault.url, or export VAULT_ADDR)"
    ]
    load_project(root, env={"VAULT_ADDR": "http://vault:8200"})  # the address from the environment is enough


@pytest.mark.usefixtures("aws_env")
def test_runtime_error_classes_name_provider_reference_position_and_fix(
    tmp_path: Path, bao: Bao, moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = bao.client()
    client.sys.create_or_update_policy("validate-none", 'path "sys/*" { capabilities = ["deny"] }')
    weak = client.auth.token.create(policies=["validate-none"], ttl="1h")["auth"]["client_token"]
    monkeypatch.setenv("VAULT_TOKEN", weak)
    bao.put("validate/fields", token="fields-secret-value")
    moto.put("validate/plain", "plain-aws-value")
    root = write(
        tmp_path,
        f"""
        secrets:
          vault: {{url: "{bao.url}"}}
          aws-sm: {{region: eu-west-1, endpoint_url: "{moto.url}"}}
        connections:
          warehouse: {{type: duckdb, path: w.duckdb}}
          hooks:
            type: webhook
            url: http://127.0.0.1:9
            headers:
              Denied: "${{vault:secret/data/validate/fields#token}}"
              NoField: "${{aws-sm:validate/plain#token}}"
              Missing: "${{aws-sm:validate/nothing}}"
              File: "${{file:secrets/absent.txt}}"
        """,
    )
    project = load_project(root)
    from activate.secrets.checks import check_references

    errors = [check.error for check in check_references(project)]
    assert errors == [
        "activate.yml:10:16: connections.hooks.headers.Denied: ${vault:secret/data/validate/fields#token}: vault: "
        f"permission denied reading secret/data/validate/fields on {bao.url} "
        "(grant the login's policy `read` on secret/data/validate/fields)",
        "activate.yml:11:17: connections.hooks.headers.NoField: ${aws-sm:validate/plain#token}: aws-sm: the secret at "
        f"secret 'validate/plain' in eu-west-1 at {moto.url} is not a JSON object, so it has no field 'token' "
        "(drop '#token' to read the whole string, or store the secret as JSON)",
        "activate.yml:12:17: connections.hooks.headers.Missing: ${aws-sm:validate/nothing}: aws-sm: no secret "
        f"'validate/nothing' in eu-west-1 at {moto.url} (create it, or fix the name (or the region))",
        f"activate.yml:13:14: connections.hooks.headers.File: ${{file:secrets/absent.txt}}: file: no file at "
        f"{root / 'secrets' / 'absent.txt'} (mount the secret there, or fix the path)",
    ]

    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    (tmp_path / "down").mkdir()
    down = write(
        tmp_path / "down",
        """
        secrets:
          vault: {url: "http://127.0.0.1:9"}
        connections:
          warehouse: {type: duckdb, path: w.duckdb}
          hooks: {type: webhook, url: "http://127.0.0.1:9", headers: {A: "${vault:hook#token}"}}
        """,
    )
    duckdb.connect(str(down / "w.duckdb")).close()
    result = CliRunner().invoke(app, ["run", "people", "--project-dir", str(down)])
    assert result.exit_code == 1
    assert (
        "activate.yml:5:67: connections.hooks.headers.A: ${vault:hook#token}: vault: cannot reach Vault at "
        "http://127.0.0.1:9 (ConnectionError) (check that Vault is unsealed and reachable from this machine "
        "(VAULT_ADDR, secrets.vault.url))" in " ".join(result.output.split())
    )
    for secret in ("fields-secret-value", "plain-aws-value"):
        assert all(secret not in (e or "") for e in errors)


def test_the_secrets_block_is_validated_with_positions_like_every_key(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """
        secrets:
          vault: {url: "http://vault:8200", auth: {method: userpass}, timout: 5}
          aws-sm: {regoin: eu-west-1}
        connections:
          warehouse: {type: duckdb, path: w.duckdb}
          hooks: {type: webhook, url: "http://127.0.0.1:9"}
        """,
    )
    assert issues(root) == [
        "activate.yml:2:52: secrets.vault.auth.method: 'userpass' is not one of token, approle, kubernetes "
        "(valid values: token, approle, kubernetes)",
        "activate.yml:2:63: secrets.vault: unknown key 'timout' (did you mean 'timeout'?)",
        "activate.yml:3:12: secrets.aws-sm: unknown key 'regoin' (did you mean 'region'?)",
    ]
