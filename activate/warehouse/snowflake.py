"""Snowflake access on snowflake-connector-python: auth (`connect_arguments`), query tags, the `SnowflakeSession`.

Auth, in order of precedence: key pair (`private_key_path`, optional `private_key_passphrase`; the key is decrypted
here with `cryptography` so a wrong passphrase fails with a clear message that never contains it), OAuth `token`,
then `password`. `host`/`port`/`protocol` are passed through untouched (PrivateLink endpoints, proxies, emulators
such as fakesnow's server mode). Every session carries `QUERY_TAG = 'activate:<sync>:<run_id>'`.

Shared by the source reader (`activate.sources.snowflake`) and the warehouse-native diff and state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.errors import SourceError
from activate.warehouse.refusal import LoginRefused
from activate.warehouse.session import WarehouseSession, strip_query

if TYPE_CHECKING:
    from activate.sources.config import SnowflakeConnection


def load_private_key(path: str, passphrase: str | None, project_root: Path) -> bytes:
    """The key at `path` as unencrypted PKCS#8 DER (what the connector's `private_key` takes).

    Errors name the file and what to fix; they never contain the passphrase.
    """
    from cryptography.hazmat.primitives import serialization

    key_path = Path(path).expanduser()
    if not key_path.is_absolute():
        key_path = project_root / key_path
    if not key_path.is_file():
        raise SourceError(
            f"Snowflake private_key_path {key_path} does not exist or is not a file "
            "(give the path of the PEM private key whose public key is set on the Snowflake user)"
        )
    data = key_path.read_bytes()
    password = passphrase.encode("utf-8") if passphrase else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        if password is None:
            raise SourceError(
                f"Snowflake private key {key_path} is encrypted: set private_key_passphrase "
                "(e.g. private_key_passphrase: ${SF_KEY_PASS})"
            ) from None
        raise SourceError(
            f"Snowflake private key {key_path} is not encrypted, but private_key_passphrase is set: remove it"
        ) from exc.__cause__
    except ValueError:
        # cryptography says "Bad decrypt. Incorrect password?" or "Could not deserialize key data"
        if password is not None:
            # a refusal like the warehouse's: a passphrase from a provider is re-read once (`refusal`)
            raise LoginRefused(
                f"cannot decrypt Snowflake private key {key_path}: the private_key_passphrase is wrong "
                "(or the file is not a PEM private key)"
            ) from None
        raise SourceError(f"Snowflake private key {key_path} is not a PEM private key") from None
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def connect_arguments(connection: SnowflakeConnection, project_root: Path, query_tag: str | None) -> dict[str, Any]:
    """Keyword arguments for `snowflake.connector.connect`, auth resolved (shared with the warehouse-native diff)."""
    args: dict[str, Any] = {"account": connection.account, "user": connection.user}
    for name in ("warehouse", "database", "role", "host", "port", "protocol"):
        value = getattr(connection, name)
        if value is not None:
            args[name] = value
    if connection.schema_ is not None:
        args["schema"] = connection.schema_
    if connection.private_key_path:
        passphrase = connection.private_key_passphrase
        args["private_key"] = load_private_key(
            connection.private_key_path, passphrase.get_secret_value() if passphrase else None, project_root
        )
        args["authenticator"] = "SNOWFLAKE_JWT"
    elif connection.token is not None:
        args["token"] = connection.token.get_secret_value()
        args["authenticator"] = connection.authenticator or "oauth"
    elif connection.password is not None:
        args["password"] = connection.password.get_secret_value()
        if connection.authenticator:
            args["authenticator"] = connection.authenticator
    else:
        raise SourceError(
            "Snowflake connection needs credentials: private_key_path (key-pair auth, the default), token (OAuth) "
            "or password"
        )
    parameters: dict[str, Any] = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}
    if query_tag:
        parameters["QUERY_TAG"] = query_tag
    args["session_parameters"] = parameters
    for name in ("login_timeout", "network_timeout"):
        value = getattr(connection, name)
        if value is not None:
            args[name] = value
    return args


def connect(connection: SnowflakeConnection, project_root: Path, query_tag: str | None) -> Any:
    """A connector connection (one login attempt). `LoginRefused` when Snowflake refuses the credentials."""
    import snowflake.connector

    try:
        return snowflake.connector.connect(**connect_arguments(connection, project_root, query_tag))
    except snowflake.connector.errors.Error as exc:
        message = f"cannot connect to Snowflake account {connection.account}: {snowflake_message(exc)}"
        if login_refused(exc):
            raise LoginRefused(message) from exc
        raise SourceError(message) from exc


# Login codes Snowflake answers a refused credential with (as `DatabaseError.errno`): 390100 incorrect username or
# password, 390144 and 394300-394306 a refused key-pair JWT, 390303 / 390318 an invalid or expired OAuth token.
# The connector (4.x) names most in `network.CREDENTIAL_REJECTION_GS_CODES` and gives them SQLSTATE 28000.
REFUSED_LOGIN_CODES = frozenset({390100, 390144, 390303, 390318, *range(394300, 394307)})
AUTHORIZATION_FAILURE_SQLSTATE = "28000"


def login_refused(exc: BaseException) -> bool:
    """Whether a connector error raised while logging in is Snowflake refusing the credentials (by its codes)."""
    import snowflake.connector

    if not isinstance(exc, snowflake.connector.errors.DatabaseError):
        return False
    return exc.sqlstate == AUTHORIZATION_FAILURE_SQLSTATE or exc.errno in REFUSED_LOGIN_CODES


def query_tag(sync_name: str | None, run_id: str | None) -> str:
    """`activate:<sync>:<run_id>` (`plan` runs have no run id)."""
    return f"activate:{sync_name or '-'}:{run_id or 'plan'}"


class SnowflakeSession(WarehouseSession):
    """A Snowflake warehouse through the connector (auth by `connect_arguments`), queries tagged."""

    dialect = "snowflake"
    timestamp_type = "TIMESTAMP_TZ"

    def __init__(self, connection: SnowflakeConnection, project_root: Path, query_tag: str) -> None:
        self.con = connect(connection, project_root, query_tag)

    def literal(self, text: str) -> str:
        # a backslash starts an escape sequence in a Snowflake string literal
        return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"

    def _run(self, sql: str, params: Any = None) -> Any:
        import snowflake.connector

        cursor = self.con.cursor()
        try:
            cursor.execute(sql, params) if params is not None else cursor.execute(sql)
        except snowflake.connector.errors.Error as exc:
            cursor.close()
            raise SourceError(snowflake_message(exc)) from exc
        return cursor

    def result_columns(self, query: str) -> list[tuple[str, Any]]:
        import snowflake.connector

        cursor = self.con.cursor()
        try:
            metadata = cursor.describe(f"SELECT * FROM ({strip_query(query)}) activate_q LIMIT 0")
        except snowflake.connector.errors.Error as exc:
            raise SourceError(snowflake_message(exc)) from exc
        finally:
            cursor.close()
        return [(m.name, m.type_code) for m in metadata or []]

    def execute(self, sql: str) -> None:
        self._run(sql).close()

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        cursor = self._run(sql)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return tuple(row) if row is not None else ()

    def stream(self, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        cursor = self._run(sql)
        try:
            while rows := cursor.fetchmany(chunk):
                yield [tuple(r) for r in rows]
        finally:
            cursor.close()

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One multi-row INSERT (the connector binds the whole array; large arrays go through a stage)."""
        import snowflake.connector

        placeholders = ", ".join(["%s"] * len(columns))
        cursor = self.con.cursor()
        try:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", list(rows))
        except snowflake.connector.errors.Error as exc:
            raise SourceError(snowflake_message(exc)) from exc
        finally:
            cursor.close()

    def close(self) -> None:
        self.con.close()


def snowflake_message(exc: BaseException) -> str:
    text = getattr(exc, "raw_msg", None) or getattr(exc, "msg", None) or str(exc)
    return str(text).strip().splitlines()[0]
