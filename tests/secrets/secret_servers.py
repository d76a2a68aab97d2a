"""Handles on the real secret servers the tests start (see conftest.py): OpenBao and moto's Secrets Manager."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from activate.testing.services import in_ci

ROOT_TOKEN = "activate-test-root"


def missing(what: str, install: str) -> None:
    message = f"{what} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited: {log.read_text(errors='replace')[-2000:]}", pytrace=False)
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"{what} did not listen on port {port} within 30 s", pytrace=False)


@dataclass
class Bao:
    """A running OpenBao dev server: KV v2 at `secret/`, the root token, and a file audit log of every request."""

    url: str
    audit_log: Path

    def client(self, token: str = ROOT_TOKEN) -> Any:
        import hvac

        return hvac.Client(url=self.url, token=token)

    def put(self, path: str, **data: str) -> None:
        self.client().secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")

    def requests(self) -> list[dict[str, Any]]:
        """Every request the server answered (the audit device logs one `response` entry each)."""
        if not self.audit_log.exists():
            return []
        entries = [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]
        return [e for e in entries if e.get("type") == "response"]

    def secret_reads(self, path: str) -> int:
        """How many times `secret/data/<path>` was read."""
        return sum(
            1
            for e in self.requests()
            if e.get("request", {}).get("path") == f"secret/data/{path}" and e["request"].get("operation") == "read"
        )

    def approle(self, name: str) -> tuple[str, str]:
        """(role_id, secret_id) of an AppRole allowed to read every secret."""
        client = self.client()
        if "approle/" not in client.sys.list_auth_methods():
            client.sys.enable_auth_method("approle")
        client.sys.create_or_update_policy("read-secrets", 'path "secret/data/*" { capabilities = ["read"] }')
        client.auth.approle.create_or_update_approle(name, token_policies=["read-secrets"])
        role_id = client.auth.approle.read_role_id(name)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id(name)["data"]["secret_id"]
        return role_id, secret_id


def wait_until(ready: Any) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if ready():
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


@dataclass
class Moto:
    """A running moto server: Secrets Manager at `url`, and its access log (one line per request)."""

    url: str
    log: Path

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "secretsmanager",
            endpoint_url=self.url,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def put(self, name: str, value: str) -> None:
        client = self.client()
        try:
            client.put_secret_value(SecretId=name, SecretString=value)
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=name, SecretString=value)

    def requests(self) -> int:
        """Requests the server answered (werkzeug logs each)."""
        return sum(1 for line in self.log.read_text(errors="replace").splitlines() if '"POST / HTTP' in line)
