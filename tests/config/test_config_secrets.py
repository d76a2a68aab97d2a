"""Secrets: known to the masker from every secret field (valid or not), never shown in reprs or errors."""

from __future__ import annotations

import pytest
from tests_config_support import EXAMPLE, EXAMPLE_ENV

from activate.config import SecretMasker, load_project
from activate.errors import ConfigError


def test_masker_replaces_longest_secrets_first_and_ignores_short_ones() -> None:
    masker = SecretMasker(["abc", "token-1", "token-1234"])
    assert masker.mask("a token-1234 and a token-1, abc") == "a *** and a ***, abc"
    assert len(masker) == 2
    assert repr(masker) == "SecretMasker(2 secrets)"


def test_masker_learns_url_passwords() -> None:
    masker = SecretMasker(["postgresql://app:p%40ss-word@db:5432/x"])
    assert masker.mask("login failed for app with p@ss-word") == "login failed for app with ***"
    assert masker.mask("dsn postgresql://app:p%40ss-word@db:5432/x") == "dsn ***"


def test_project_secrets_cover_every_secret_field_and_env_value() -> None:
    project = load_project(EXAMPLE, env=EXAMPLE_ENV)
    text = (
        "pg-pass-9931 crm-token-1234 key-abcd5678 abcd5678 xoxb-chat-77 "
        "postgresql+psycopg://app:pg-pass-9931@127.0.0.1:5432/analytics"
    )
    assert project.secrets.mask(text) == "*** *** *** *** *** ***"
    for rendered in (repr(project), str(project), repr(project.connection("crm")), str(project.spec)):
        for value in EXAMPLE_ENV.values():
            assert value not in rendered


def test_env_values_in_secret_looking_keys_are_masked_without_secretstr(make_project) -> None:
    root = make_project(
        """
        connections:
          crm:
            type: testcrm
            auth: {method: token, token: literal-token}
            params: {Api-Key: "${CRM_API_KEY}", region: "${CRM_REGION}"}
        """
    )
    project = load_project(root, env={"CRM_API_KEY": "k3y-k3y-k3y", "CRM_REGION": "eu-west"})
    assert project.secrets.mask("k3y-k3y-k3y eu-west literal-token") == "*** eu-west ***"


def test_secrets_never_appear_in_errors(make_project) -> None:
    root = make_project(
        """
        connections:
          crm:
            type: testcrm
            timeout: "${CRM_TOKEN}"
            auth: {method: token, token: "${CRM_TOKEN}"}
          other:
            type: testcrm
            timeout: literal-secret-99
            auth: {method: password, username: me, password: literal-secret-99}
            headers: {X-Key: 918273645}
          chat: {type: testchat, token: [not, a, string]}
        """
    )
    with pytest.raises(ConfigError) as caught:
        load_project(root, env={"CRM_TOKEN": "env-secret-42"})
    text = str(caught.value)
    assert [str(i) for i in caught.value.issues] == [
        "activate.yml:4:14: connections.crm.timeout: the value of ${CRM_TOKEN} is not a number",
        "activate.yml:8:14: connections.other.timeout: expected a number, got '***'",
        "activate.yml:10:22: connections.other.headers.X-Key: expected a string, got ***",
        "activate.yml:11:33: connections.chat.token: expected a string, got a list",
    ]
    for secret in ("env-secret-42", "literal-secret-99", "918273645"):
        assert secret not in text
