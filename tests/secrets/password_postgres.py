"""A throwaway PostgreSQL cluster that checks passwords (SCRAM over TCP), for warehouse-login rotation tests.

The shared test server trusts every TCP login, so it cannot refuse a rotated password. This one is made by the
tests themselves with the server's own `initdb` / `pg_ctl` (as the `postgres` user when the tests run as root,
since `initdb` refuses root), on a free port, and removed afterwards. Required under CI; skipped with the reason
elsewhere when no PostgreSQL server binaries are installed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from secret_servers import free_port, missing

ADMIN_PASSWORD = "cluster-admin-pw"  # the superuser's; never a value a test scans for


def _bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class PasswordPostgres:
    """A running cluster on 127.0.0.1:`port` whose TCP logins need the role's password."""

    port: int

    def url(self, user: str = "postgres", password: str = ADMIN_PASSWORD, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database=database).replace("+psycopg", ""), autocommit=True) as con:
            for statement in statements:
                con.execute(statement)  # type: ignore[arg-type]

    def role(self, name: str, password: str) -> None:
        """A login role owning a database of its own name (for `state: warehouse`'s schema)."""
        self.admin(
            f"DROP DATABASE IF EXISTS {name}",
            f"DROP ROLE IF EXISTS {name}",
            f"CREATE ROLE {name} LOGIN PASSWORD '{password}'",
            f"CREATE DATABASE {name} OWNER {name}",
        )

    def set_password(self, name: str, password: str) -> None:
        """The rotation at the server (what a rotation job does in the warehouse)."""
        self.admin(f"ALTER ROLE {name} PASSWORD '{password}'")


@contextlib.contextmanager
def password_postgres() -> Iterator[PasswordPostgres]:
    bindir = _bindir()
    if bindir is None:
        missing("PostgreSQL's server binaries (initdb, pg_ctl)", "apt-get install postgresql")
    assert bindir is not None
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            missing("runuser (initdb refuses to run as root)", "apt-get install util-linux")
        as_user = ["runuser", "-u", "postgres", "--"]
    # not under pytest's tmp directory: that is private to root, and the server runs as `postgres`
    directory = Path(tempfile.mkdtemp(prefix="activate-pg-"))
    if as_user:
        shutil.chown(directory, "postgres")
    data, log, port = directory / "data", directory / "server.log", free_port()
    pwfile = directory / "pw"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    if as_user:
        shutil.chown(pwfile, "postgres")
    run = [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}"]
    run += ["--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--no-sync"]
    subprocess.run(run, check=True, capture_output=True)
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log)]
    subprocess.run([*ctl, "-w", "-o", options, "start"], check=True, capture_output=True)
    try:
        yield PasswordPostgres(port)
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
