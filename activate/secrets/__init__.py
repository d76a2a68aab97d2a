"""Secrets from the environment, files, HashiCorp Vault / OpenBao and AWS Secrets Manager (DESIGN §9).

References (`${NAME}`, `${file:PATH}`, `${vault:PATH#FIELD}`, `${aws-sm:NAME#FIELD}`) are parsed by `references`;
environment ones are filled in when a file loads, the others when a connection opens (`connections`), through the
run's `SecretSession` (`session`), which reads each once and adds every value to the project's masker. The
providers are `providers` (environment, file), `vault` (hvac) and `aws` (boto3); the clients load lazily.
"""

from __future__ import annotations

from activate.secrets.config import AwsSecretsSpec, SecretsSpec, VaultSpec
from activate.secrets.errors import (
    ProviderUnavailable,
    SecretAccessDenied,
    SecretError,
    SecretFieldMissing,
    SecretNotFound,
)
from activate.secrets.references import Reference, ReferenceSyntaxError, Template, parse_template
from activate.secrets.session import SecretSession, secret_scope

__all__ = [
    "AwsSecretsSpec",
    "ProviderUnavailable",
    "Reference",
    "ReferenceSyntaxError",
    "SecretAccessDenied",
    "SecretError",
    "SecretFieldMissing",
    "SecretNotFound",
    "SecretSession",
    "SecretsSpec",
    "Template",
    "VaultSpec",
    "parse_template",
    "secret_scope",
]
