"""`secrets:` in activate.yml: the Vault and AWS Secrets Manager providers, configured once per project.

    secrets:
      vault:
        url: https://vault.internal:8200      # default: $VAULT_ADDR
        auth: {method: token}                 # token: the `token` key, else $VAULT_TOKEN, else ~/.vault-token
                                              # {method: approle, role_id: ..., secret_id: "${file:/run/secrets/sid}"}
                                              # {method: kubernetes, role: activate}  (the pod's service-account JWT)
        namespace: null                       # Vault Enterprise / OpenBao namespace; default $VAULT_NAMESPACE
        mount: secret                         # the KV v2 mount of mount-relative paths
      aws-sm:
        region: eu-west-1                     # default: the AWS chain ($AWS_REGION, the profile)
        endpoint_url: null                    # LocalStack-style endpoints and tests
        profile: null                         # credentials: the standard AWS chain (env, profile, IRSA, instance role)

The models live here rather than in `activate.config.models` so the secrets package owns its settings; they use
the same conventions (frozen, unknown keys are errors).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_KUBERNETES_JWT = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenAuth(_Settings):
    """A Vault token: `token`, else $VAULT_TOKEN, else the CLI's ~/.vault-token."""

    method: Literal["token"] = "token"
    token: SecretStr | None = None


class AppRoleAuth(_Settings):
    """AppRole login: `role_id` + `secret_id` (typically `${file:/run/secrets/...}`), at `mount` (default approle)."""

    method: Literal["approle"]
    role_id: str
    secret_id: SecretStr | None = None
    mount: str = "approle"


class KubernetesAuth(_Settings):
    """Kubernetes login: the pod's service-account JWT (`jwt_path`) exchanged for a token of `role`."""

    method: Literal["kubernetes"]
    role: str
    jwt_path: str = DEFAULT_KUBERNETES_JWT
    mount: str = "kubernetes"


VaultAuth = Annotated[TokenAuth | AppRoleAuth | KubernetesAuth, Field(discriminator="method")]


class VaultSpec(_Settings):
    """HashiCorp Vault or OpenBao, KV v2 secrets engine, through hvac."""

    url: str | None = None
    auth: VaultAuth = TokenAuth()
    namespace: str | None = None
    mount: str = "secret"
    timeout: float = Field(default=10.0, gt=0)
    ca_bundle: str | None = None


class AwsSecretsSpec(_Settings):
    """AWS Secrets Manager through boto3; credentials come from the standard AWS chain."""

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None


class SecretsSpec(_Settings):
    """The providers a project may reference (`${vault:..}` needs `vault:`, `${aws-sm:..}` needs `aws-sm:`)."""

    vault: VaultSpec | None = None
    aws_sm: AwsSecretsSpec | None = Field(default=None, alias="aws-sm")
