"""`${vault:PATH#FIELD}`: HashiCorp Vault and OpenBao (API-compatible), KV v2 secrets engine, through hvac.

The one module that imports `hvac` (lazily: `validate` never needs it). Paths:

    secret/data/hubspot#token     mount `secret`, secret `hubspot` (the API path, as `vault kv get -output-curl` shows)
    secret/hubspot#token          the mount-relative form (as `vault kv get secret/hubspot` takes it)
    hubspot#token                 relative to the configured `mount` (default `secret`)

Login happens once per run, on the first read: a token (`auth.token`, $VAULT_TOKEN, ~/.vault-token), AppRole or
Kubernetes. Every `read` asks Vault for the latest version (the session caches it for the run).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from activate.secrets.config import AppRoleAuth, KubernetesAuth, TokenAuth, VaultSpec
from activate.secrets.errors import ProviderUnavailable, SecretAccessDenied, SecretError, SecretNotFound
from activate.secrets.providers import field_of
from activate.secrets.references import Reference

if TYPE_CHECKING:
    import hvac

Setting = Callable[[str, SecretStr | str | None], str | None]
"""(config path, value in the model) -> the value with its late references resolved (`${file:..}` of a secret_id)."""

_SEALED_HINT = "check that Vault is unsealed and reachable from this machine (VAULT_ADDR, secrets.vault.url)"


def split_path(path: str, mount: str) -> tuple[str, str]:
    """(mount, path inside the mount) of a reference's path."""
    first, _, rest = path.partition("/")
    if rest.startswith("data/") and rest != "data/":
        return first, rest.removeprefix("data/")
    if path.startswith(mount + "/"):
        return mount, path.removeprefix(mount + "/")
    return mount, path


class VaultProvider:
    """Reads KV v2 secrets; thread-safe (one login per run, shared by every read)."""

    name = "vault"

    def __init__(self, spec: VaultSpec, env: Mapping[str, str], setting: Setting) -> None:
        self.spec = spec
        self.env = env
        self.setting = setting
        self.url = spec.url or env.get("VAULT_ADDR") or ""
        self._lock = threading.Lock()
        self._client: hvac.Client | None = None

    def read(self, reference: Reference) -> SecretStr:
        import hvac.exceptions as hx
        import requests

        mount, inner = split_path(reference.key, self.spec.mount)
        where = f"{mount}/data/{inner} on {self.url}"
        client = self._login(reference)
        try:
            response = client.secrets.kv.v2.read_secret_version(
                path=inner, mount_point=mount, raise_on_deleted_version=True
            )
        except hx.InvalidPath:
            raise SecretNotFound(
                "vault",
                reference.text,
                f"no secret at {where}",
                f"write it with `bao kv put -mount={mount} {inner} ...`, or fix the path",
            ) from None
        except hx.Forbidden:
            raise SecretAccessDenied(
                "vault",
                reference.text,
                f"permission denied reading {where}",
                f"grant the login's policy `read` on {mount}/data/{inner}",
            ) from None
        except hx.Unauthorized:
            raise SecretAccessDenied(
                "vault", reference.text, f"Vault refused the token reading {where}", "log in again or renew the token"
            ) from None
        except (hx.VaultDown, hx.VaultError, requests.RequestException) as exc:
            raise ProviderUnavailable(
                "vault", reference.text, f"cannot read {where} ({type(exc).__name__})", _SEALED_HINT
            ) from None
        data = ((response or {}).get("data") or {}).get("data") or {}
        return field_of("vault", reference, data, f"{mount}/data/{inner}")

    def _login(self, reference: Reference) -> hvac.Client:
        with self._lock:
            if self._client is None:
                self._client = self._authenticated(reference)
            return self._client

    def _authenticated(self, reference: Reference) -> hvac.Client:
        try:
            import hvac
            import hvac.exceptions as hx
            import requests
        except ImportError:
            raise ProviderUnavailable(
                "vault", reference.text, "the Vault client (hvac) is not installed", 'pip install "activate-etl[vault]"'
            ) from None
        spec = self.spec
        if not self.url:
            raise ProviderUnavailable(
                "vault", reference.text, "no Vault address", "set secrets.vault.url in activate.yml or VAULT_ADDR"
            )
        namespace = spec.namespace or self.env.get("VAULT_NAMESPACE") or None
        verify: bool | str = spec.ca_bundle or self.env.get("VAULT_CACERT") or True
        client = hvac.Client(url=self.url, namespace=namespace, timeout=spec.timeout, verify=verify)
        auth = spec.auth
        method = auth.method
        try:
            if isinstance(auth, TokenAuth):
                client.token = self._token(reference, auth)
                client.auth.token.lookup_self()
            elif isinstance(auth, AppRoleAuth):
                secret_id = self.setting("secrets.vault.auth.secret_id", auth.secret_id)
                client.auth.approle.login(role_id=auth.role_id, secret_id=secret_id, mount_point=auth.mount)
            elif isinstance(auth, KubernetesAuth):
                jwt = self._service_account_jwt(reference, auth)
                client.auth.kubernetes.login(role=auth.role, jwt=jwt, mount_point=auth.mount)
        except (hx.Forbidden, hx.Unauthorized, hx.InvalidRequest, hx.InvalidPath):
            raise SecretAccessDenied(
                "vault",
                reference.text,
                f"Vault at {self.url} refused the {method} login",
                _LOGIN_HINTS[method],
            ) from None
        except SecretError:
            raise
        except (hx.VaultDown, hx.VaultError, requests.RequestException) as exc:
            raise ProviderUnavailable(
                "vault", reference.text, f"cannot reach Vault at {self.url} ({type(exc).__name__})", _SEALED_HINT
            ) from None
        return client

    def _token(self, reference: Reference, auth: TokenAuth) -> str:
        configured = self.setting("secrets.vault.auth.token", auth.token)
        if configured:
            return configured
        if self.env.get("VAULT_TOKEN"):
            return self.env["VAULT_TOKEN"]
        token_file = Path(self.env.get("HOME") or Path.home()) / ".vault-token"
        if token_file.is_file():
            return token_file.read_text(encoding="utf-8").strip()
        raise SecretAccessDenied(
            "vault",
            reference.text,
            "no Vault token: looked in secrets.vault.auth.token, VAULT_TOKEN and ~/.vault-token",
            "export VAULT_TOKEN, or use auth: {method: approle, ...} or {method: kubernetes, ...}",
        )

    def _service_account_jwt(self, reference: Reference, auth: KubernetesAuth) -> str:
        path = Path(os.path.expanduser(auth.jwt_path))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError:
            raise ProviderUnavailable(
                "vault",
                reference.text,
                f"no service-account token at {path}",
                "run in a pod with a service account, or set secrets.vault.auth.jwt_path",
            ) from None


_LOGIN_HINTS: dict[str, str] = {
    "token": "the token is unknown, expired or revoked: renew it or export a valid VAULT_TOKEN",
    "approle": "check role_id and secret_id (a secret_id may have expired or reached its use limit)",
    "kubernetes": "check that the role exists and binds this pod's service account and namespace",
}
