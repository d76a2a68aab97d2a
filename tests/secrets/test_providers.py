"""Each provider against its real server: OpenBao through hvac, moto's Secrets Manager through boto3, files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from secret_servers import ROOT_TOKEN, Bao, Moto

from activate.config.secrets import SecretMasker
from activate.secrets import (
    ProviderUnavailable,
    SecretAccessDenied,
    SecretFieldMissing,
    SecretNotFound,
    SecretSession,
    SecretsSpec,
    parse_template,
)


def session(tmp_path: Path, secrets: dict[str, object], env: dict[str, str] | None = None) -> SecretSession:
    return SecretSession(tmp_path, SecretsSpec.model_validate(secrets), SecretMasker(), env=env or {})


def ref(text: str):  # type: ignore[no-untyped-def]
    return parse_template(text).references[0]


def test_vault_token_auth_reads_kv2_fields_by_api_and_mount_relative_paths(tmp_path: Path, bao: Bao) -> None:
    bao.put("providers/crm", token="crm-token-v1", port="5432")
    secrets = session(tmp_path, {"vault": {"url": bao.url}}, {"VAULT_TOKEN": ROOT_TOKEN})
    for text in ("${vault:secret/data/providers/crm#token}", "${vault:secret/providers/crm#token}"):
        value = secrets.value(ref(text))
        assert isinstance(value, SecretStr)
        assert value.get_secret_value() == "crm-token-v1"
    assert secrets.value(ref("${vault:providers/crm#port}")).get_secret_value() == "5432"
    assert secrets.masker.mask("sent crm-token-v1") == "sent ***"


def test_vault_value_is_cached_per_session_and_a_reread_sees_a_rotation(tmp_path: Path, bao: Bao) -> None:
    bao.put("providers/rotating", token="first-value")
    secrets = session(tmp_path, {"vault": {"url": bao.url, "auth": {"method": "token", "token": ROOT_TOKEN}}})
    reference = ref("${vault:secret/data/providers/rotating#token}")
    before = bao.secret_reads("providers/rotating")
    assert secrets.value(reference).get_secret_value() == "first-value"
    assert secrets.value(reference).get_secret_value() == "first-value"
    assert bao.secret_reads("providers/rotating") == before + 1
    assert secrets.reread(reference) is False
    bao.put("providers/rotating", token="second-value")
    assert secrets.value(reference).get_secret_value() == "first-value"  # cached until re-read
    assert secrets.reread(reference) is True
    assert secrets.value(reference).get_secret_value() == "second-value"


def test_vault_approle_login_with_a_secret_id_from_a_file(tmp_path: Path, bao: Bao) -> None:
    bao.put("providers/approle", token="approle-read")
    role_id, secret_id = bao.approle("activate-test")
    (tmp_path / "sid").write_text(secret_id + "\n")
    spec = {"vault": {"url": bao.url, "auth": {"method": "approle", "role_id": role_id, "secret_id": "${file:sid}"}}}
    secrets = SecretSession(
        tmp_path,
        SecretsSpec.model_validate(spec),
        SecretMasker(),
        env={},
        settings={"secrets.vault.auth.secret_id": parse_template("${file:sid}")},
    )
    assert secrets.value(ref("${vault:secret/data/providers/approle#token}")).get_secret_value() == "approle-read"


def test_vault_errors_say_where_they_looked_never_what_they_found(tmp_path: Path, bao: Bao) -> None:
    bao.put("providers/errors", token="never-shown-1234")
    secrets = session(tmp_path, {"vault": {"url": bao.url}}, {"VAULT_TOKEN": ROOT_TOKEN})
    with pytest.raises(SecretNotFound) as missing:
        secrets.value(ref("${vault:secret/data/providers/nope#token}"))
    assert str(missing.value) == (
        f"${{vault:secret/data/providers/nope#token}}: vault: no secret at secret/data/providers/nope on {bao.url} "
        "(write it with `bao kv put -mount=secret providers/nope ...`, or fix the path)"
    )
    with pytest.raises(SecretFieldMissing) as field:
        secrets.value(ref("${vault:secret/data/providers/errors#tokn}"))
    assert "has no field 'tokn'" in str(field.value)
    assert "never-shown-1234" not in str(field.value)

    # a token whose policy cannot read secrets
    client = bao.client()
    client.sys.create_or_update_policy("nothing", 'path "sys/*" { capabilities = ["deny"] }')
    weak = client.auth.token.create(policies=["nothing"], ttl="1h")["auth"]["client_token"]
    denied = session(tmp_path, {"vault": {"url": bao.url}}, {"VAULT_TOKEN": weak})
    with pytest.raises(SecretAccessDenied, match="permission denied reading secret/data/providers/errors"):
        denied.value(ref("${vault:secret/data/providers/errors#token}"))

    refused = session(tmp_path, {"vault": {"url": bao.url}}, {"VAULT_TOKEN": "not-a-token"})
    with pytest.raises(SecretAccessDenied, match="refused the token login"):
        refused.value(ref("${vault:secret/data/providers/errors#token}"))

    down = session(tmp_path, {"vault": {"url": "http://127.0.0.1:9"}}, {"VAULT_TOKEN": ROOT_TOKEN})
    with pytest.raises(ProviderUnavailable, match=r"cannot reach Vault at http://127.0.0.1:9 \(ConnectionError\)"):
        down.value(ref("${vault:secret/data/providers/errors#token}"))


@pytest.mark.usefixtures("aws_env")
def test_aws_plain_json_missing_and_rotated_secrets(tmp_path: Path, moto: Moto) -> None:
    moto.put("prov/plain", "plain-secret-value")
    moto.put("prov/json", json.dumps({"token": "json-token-1", "port": 5432}))
    secrets = session(tmp_path, {"aws-sm": {"region": "eu-west-1", "endpoint_url": moto.url}})
    assert secrets.value(ref("${aws-sm:prov/plain}")).get_secret_value() == "plain-secret-value"
    assert secrets.value(ref("${aws-sm:prov/json#token}")).get_secret_value() == "json-token-1"
    assert secrets.value(ref("${aws-sm:prov/json#port}")).get_secret_value() == "5432"
    with pytest.raises(SecretNotFound, match=r"no secret 'prov/absent' in eu-west-1 at http://127\.0\.0\.1"):
        secrets.value(ref("${aws-sm:prov/absent#token}"))
    with pytest.raises(SecretFieldMissing, match="is not a JSON object") as not_json:
        secrets.value(ref("${aws-sm:prov/plain#token}"))
    assert "plain-secret-value" not in str(not_json.value)

    reference = ref("${aws-sm:prov/json#token}")
    moto.put("prov/json", json.dumps({"token": "json-token-2"}))
    assert secrets.value(reference).get_secret_value() == "json-token-1"
    assert secrets.reread(reference) is True
    assert secrets.value(reference).get_secret_value() == "json-token-2"


def test_aws_without_credentials_names_the_chain(tmp_path: Path, moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    secrets = session(tmp_path, {"aws-sm": {"region": "eu-west-1", "endpoint_url": moto.url}})
    with pytest.raises(SecretAccessDenied, match="no AWS credentials found .* IRSA web identity, instance role"):
        secrets.value(ref("${aws-sm:prov/plain}"))


def test_file_provider_strips_trailing_newlines_and_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-token-77\n\n")
    secrets = session(tmp_path, {})
    assert secrets.value(ref("${file:token}")).get_secret_value() == "file-token-77"
    with pytest.raises(SecretNotFound, match=f"no file at {tmp_path / 'absent'}"):
        secrets.value(ref("${file:absent}"))


def test_file_provider_names_a_file_it_may_not_read(tmp_path: Path) -> None:
    secrets = session(tmp_path, {})
    if os.geteuid() == 0:
        pytest.skip("running as root, which reads any file: a permission cannot refuse the read")
    locked = tmp_path / "locked"
    locked.write_text("x")
    locked.chmod(0)
    try:
        with pytest.raises(SecretAccessDenied, match="permission denied reading"):
            secrets.value(ref("${file:locked}"))
    finally:
        locked.chmod(0o600)
