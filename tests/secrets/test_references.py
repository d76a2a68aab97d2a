"""The reference grammar, the KV v2 path forms and the public API of `activate.secrets`."""

from __future__ import annotations

import pytest

import activate.secrets as secrets_api
from activate.config.env import resolve_env
from activate.secrets import Reference, ReferenceSyntaxError, parse_template
from activate.secrets.vault import split_path


def test_every_reference_form_parses() -> None:
    template = parse_template(
        "a ${NAME} ${NAME:-dflt} ${env:OTHER} ${file:secrets/x.txt} ${vault:secret/data/app#token} "
        "${aws-sm:prod/app#key} ${aws-sm:prod/plain} $${literal}"
    )
    assert [(r.provider, r.key, r.field, r.default) for r in template.references] == [
        ("env", "NAME", None, None),
        ("env", "NAME", None, "dflt"),
        ("env", "OTHER", None, None),
        ("file", "secrets/x.txt", None, None),
        ("vault", "secret/data/app", "token", None),
        ("aws-sm", "prod/app", "key", None),
        ("aws-sm", "prod/plain", None, None),
    ]
    assert [r.late for r in template.references] == [False, False, False, True, True, True, True]
    assert template.render(lambda r: f"<{r.provider}>").endswith("<aws-sm> ${literal}")
    assert template.text.endswith("$${literal}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${vault:secret/data/app}", "a vault reference must name a secret path and a #field"),
        ("${vault:#token}", "a vault reference must name a secret path and a #field"),
        ("${aws-sm:}", "an aws-sm reference must name a secret"),
        ("${aws-sm:name#}", "an aws-sm reference must name a secret"),
        ("${file:}", "a file reference names no file"),
        ("${gcp:x}", "unknown secret provider 'gcp'"),
        ("${1BAD}", "malformed environment reference in '${1BAD}'"),
        ("${vault:secret/x#y", "unclosed reference '${vault:secret/x#y'"),
    ],
)
def test_malformed_references_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ReferenceSyntaxError) as caught:
        parse_template(text)
    assert caught.value.message == message
    assert caught.value.hint


def test_environment_is_filled_in_and_late_references_are_kept_as_written() -> None:
    resolved = resolve_env(
        {"connections": {"c": {"h": "Bearer ${TOKEN} ${vault:secret/data/h#t}"}}},
        {"TOKEN": "tok-1"},
        lambda path, reference: None,
    )
    assert resolved.data == {"connections": {"c": {"h": "Bearer tok-1 ${vault:secret/data/h#t}"}}}
    [(path, template)] = resolved.late.items()
    assert path == ("connections", "c", "h")
    assert template.late == (Reference("vault", "secret/data/h", "t", text="${vault:secret/data/h#t}"),)
    assert resolved.named == {"connections.c.h": "Bearer ${TOKEN} ${vault:secret/data/h#t}"}


def test_kv2_paths_by_api_path_mount_relative_or_relative_to_the_mount() -> None:
    assert split_path("secret/data/app/hubspot", "secret") == ("secret", "app/hubspot")
    assert split_path("kv/data/app", "secret") == ("kv", "app")
    assert split_path("secret/app", "secret") == ("secret", "app")
    assert split_path("app/hubspot", "secret") == ("secret", "app/hubspot")


def test_public_names_are_exported() -> None:
    public = {name for name in dir(secrets_api) if not name.startswith("_")}
    modules = {
        "aws",
        "checks",
        "config",
        "connections",
        "errors",
        "providers",
        "references",
        "rotation",
        "session",
        "vault",
        "annotations",
    }
    assert public - modules == set(secrets_api.__all__)
