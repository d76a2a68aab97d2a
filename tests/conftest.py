"""Fixtures shared by every test directory: services (Postgres, Redis) and throwaway projects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activate.testing.services import fresh_postgres_database, redis_client_or_skip


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (skips on a laptop without Postgres, fails in CI)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def redis_client() -> object:
    """A connected Redis client (skips on a laptop without Redis, fails in CI)."""
    return redis_client_or_skip()
