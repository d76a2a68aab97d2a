"""Connection models of the warehouses activate reads from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from activate.config.models import ConnectionSpec


class DuckDBConnection(ConnectionSpec):
    """An embedded DuckDB file (relative paths are relative to the project directory).

    A source always opens the file read-only, so syncs reading one warehouse run in parallel processes;
    `read_only: true` also forbids `state: warehouse` on it. While another process writes the file, opening waits
    up to `lock_timeout` seconds.
    """

    type: Literal["duckdb"] = "duckdb"
    path: str = ":memory:"
    read_only: bool = False
    lock_timeout: float = Field(default=30.0, ge=0)


class SQLiteConnection(ConnectionSpec):
    """A SQLite file."""

    type: Literal["sqlite"] = "sqlite"
    path: str


class PostgresConnection(ConnectionSpec):
    """PostgreSQL through SQLAlchemy + psycopg: `postgresql+psycopg://user@host:5432/db`."""

    type: Literal["postgres"] = "postgres"
    url: SecretStr
    batch_size: int = Field(default=50_000, gt=0)


class SnowflakeConnection(ConnectionSpec):
    """Snowflake through snowflake-connector-python, key-pair auth by default."""

    type: Literal["snowflake"] = "snowflake"
    account: str
    user: str
    private_key_path: str | None = None
    private_key_passphrase: SecretStr | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    authenticator: str | None = None
    warehouse: str | None = None
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    role: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: Literal["https", "http"] | None = None
    login_timeout: int | None = Field(default=None, gt=0)
    network_timeout: int | None = Field(default=None, gt=0)


SOURCE_CONNECTIONS: dict[str, type[ConnectionSpec]] = {
    "duckdb": DuckDBConnection,
    "sqlite": SQLiteConnection,
    "postgres": PostgresConnection,
    "snowflake": SnowflakeConnection,
}
