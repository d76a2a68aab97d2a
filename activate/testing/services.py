"""Test services (PostgreSQL, Redis): used when reachable; required when `CI` is set.

On a laptop without them the tests that need them skip with the reason; in CI (`CI` set) they fail instead, so a
missing service can never turn a red build green.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(service: str, url: str, error: BaseException) -> None:
    """Skip (laptop) or fail (CI) a test whose service is down."""
    import pytest

    message = f"{service} at {url} is not reachable ({type(error).__name__}: {error})"
    if in_ci():
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(f"{message}; set ACTIVATE_TEST_{service.upper()}_URL or start it to run this test")


def postgres_url() -> str:
    return os.environ.get("ACTIVATE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def redis_url() -> str:
    return os.environ.get("ACTIVATE_TEST_REDIS_URL", DEFAULT_REDIS_URL)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server (dropped afterwards), so tests never see each other's tables."""
    import sqlalchemy as sa

    base = postgres_url()
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"activate_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable("postgres", base, exc)
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def redis_client_or_skip() -> object:
    """A connected redis client, or skip/fail as above."""
    import redis

    url = redis_url()
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except Exception as exc:
        unavailable("redis", url, exc)
    return client
