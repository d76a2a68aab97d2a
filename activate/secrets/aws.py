"""`${aws-sm:NAME#FIELD}`: AWS Secrets Manager through boto3, the one module that imports it (lazily).

Credentials come from boto3's standard chain (environment, shared profile, IRSA web identity, instance role); the
region from `secrets.aws-sm.region`, else the chain ($AWS_REGION, the profile). `endpoint_url` points at
LocalStack-style endpoints. `NAME` is the secret's name or ARN; `#FIELD` reads one key of a JSON secret, no `#` the
whole string (a binary secret is read as UTF-8).
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import SecretStr

from activate.secrets.config import AwsSecretsSpec
from activate.secrets.errors import ProviderUnavailable, SecretAccessDenied, SecretNotFound
from activate.secrets.providers import field_of
from activate.secrets.references import Reference

_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
_BAD_CREDENTIALS = frozenset(
    {"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "InvalidClientTokenId"}
)
_NOT_FOUND = frozenset({"ResourceNotFoundException"})
_CHAIN = "environment, shared profile, IRSA web identity, instance role"


class AwsSecretsProvider:
    """Reads secrets from AWS Secrets Manager; thread-safe (one boto3 client per run)."""

    name = "aws-sm"

    def __init__(self, spec: AwsSecretsSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._client: Any = None

    def read(self, reference: Reference) -> SecretStr:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        client = self._secrets_client(reference)
        where = f"secret '{reference.key}' in {self._place(client)}"
        try:
            response = client.get_secret_value(SecretId=reference.key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                raise SecretNotFound(
                    "aws-sm", reference.text, f"no {where}", "create it, or fix the name (or the region)"
                ) from None
            if code in _DENIED:
                raise SecretAccessDenied(
                    "aws-sm",
                    reference.text,
                    f"permission denied reading {where}",
                    "allow secretsmanager:GetSecretValue on it (and kms:Decrypt on its key) for this role",
                ) from None
            if code in _BAD_CREDENTIALS:
                raise SecretAccessDenied(
                    "aws-sm",
                    reference.text,
                    f"AWS refused the credentials reading {where} ({code})",
                    f"refresh the credentials of the AWS chain ({_CHAIN})",
                ) from None
            raise ProviderUnavailable(
                "aws-sm", reference.text, f"cannot read {where} ({code or 'error'})", "retry, or check the secret"
            ) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise SecretAccessDenied(
                "aws-sm",
                reference.text,
                f"no AWS credentials found reading {where} (looked in: {_CHAIN})",
                "export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, set AWS_PROFILE, or run with a role",
            ) from None
        except BotoCoreError as exc:
            raise ProviderUnavailable(
                "aws-sm",
                reference.text,
                f"cannot reach Secrets Manager reading {where} ({type(exc).__name__})",
                "check the network, the region and secrets.aws-sm.endpoint_url",
            ) from None
        if "SecretString" in response:
            document: str = response["SecretString"]
        else:
            document = bytes(response.get("SecretBinary") or b"").decode("utf-8", errors="replace")
        return field_of("aws-sm", reference, document, where)

    def _secrets_client(self, reference: Reference) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._build(reference)
            return self._client

    def _build(self, reference: Reference) -> Any:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError:
            raise ProviderUnavailable(
                "aws-sm", reference.text, "the AWS client (boto3) is not installed", 'pip install "activate-etl[aws]"'
            ) from None
        try:
            session = boto3.session.Session(profile_name=self.spec.profile, region_name=self.spec.region)
            # Two attempts, short timeouts: a run should fail fast with a clear line, not hang on a dead endpoint.
            config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)
            return session.client("secretsmanager", endpoint_url=self.spec.endpoint_url, config=config)
        except BotoCoreError as exc:
            raise ProviderUnavailable(
                "aws-sm",
                reference.text,
                f"cannot set up the Secrets Manager client ({type(exc).__name__})",
                "set secrets.aws-sm.region (or AWS_REGION), and check secrets.aws-sm.profile",
            ) from None

    def _place(self, client: Any) -> str:
        endpoint = self.spec.endpoint_url
        region = getattr(getattr(client, "meta", None), "region_name", None) or "?"
        return f"{region}" + (f" at {endpoint}" if endpoint else "")
