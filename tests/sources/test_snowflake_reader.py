"""SnowflakeReader against fakesnow: in-process (`fakesnow.patch()`) and server mode through host/port/protocol.

What fakesnow cannot cover is listed in `activate/sources/snowflake.py`'s docstring (Arrow results in-process,
ALTER SESSION, key verification, quoted-alias case, cloud result chunks).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakesnow
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from activate.errors import SourceError
from activate.sources.config import SnowflakeConnection
from activate.sources.snowflake import SnowflakeReader, connect_arguments, load_private_key

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

# Taken at collection: calling `fakesnow.server()` imports the `fakesnow.server` submodule, which then replaces the
# function of the same name on the package, so a second test module would find a module there.
SERVE = fakesnow.server

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    import snowflake.connector

    with SERVE() as kwargs:
        con = snowflake.connector.connect(**kwargs)
        cursor = con.cursor()
        for statement in (
            "CREATE DATABASE IF NOT EXISTS reader_db",
            "CREATE SCHEMA IF NOT EXISTS reader_db.public",
            "CREATE OR REPLACE TABLE reader_db.public.t (id INTEGER, name VARCHAR, amount NUMBER(10, 2), "
            "seen TIMESTAMP_NTZ, doc VARIANT)",
            "INSERT INTO reader_db.public.t SELECT seq4() + 1, 'name' || seq4(), 1.50, '2024-01-01 10:00:00', "
            'PARSE_JSON(\'{"b": 1, "a": [2, 3]}\') FROM TABLE(GENERATOR(ROWCOUNT => 2500))',
        ):
            cursor.execute(statement)
        con.close()
        yield kwargs


def _connection(server: dict[str, Any], **extra: Any) -> SnowflakeConnection:
    spec = {
        "type": "snowflake",
        "account": server["account"],
        "user": server["user"],
        "password": server["password"],
        "host": server["host"],
        "port": server["port"],
        "protocol": server["protocol"],
        "database": "reader_db",
        "schema": "public",
        "network_timeout": 20,
        **extra,
    }
    return SnowflakeConnection.model_validate(spec)


def test_server_mode_streams_arrow_batches_with_canonical_variant(server: dict[str, Any], tmp_path: Path) -> None:
    reader = SnowflakeReader(_connection(server), tmp_path, sync_name="people", run_id="r1")
    try:
        assert reader.columns("select * from t") == ["ID", "NAME", "AMOUNT", "SEEN", "DOC"]
        batches = list(reader.batches("select * from t order by id", batch_size=1000))
    finally:
        reader.close()
    assert sum(b.num_rows for b in batches) == 2500
    assert max(b.num_rows for b in batches) <= 1000, "batches are streamed in batch_size chunks at most"
    first = batches[0]
    assert str(first.schema.field("AMOUNT").type) == "decimal128(10, 2)"
    doc = first.schema.field("DOC")
    assert doc.metadata[b"activate.type"] == b"json"
    assert first.column("DOC")[0].as_py() == json.dumps({"a": [2, 3], "b": 1}, sort_keys=True)


def test_query_tag_is_a_login_session_parameter(server: dict[str, Any], tmp_path: Path) -> None:
    reader = SnowflakeReader(_connection(server), tmp_path)
    reader.set_query_tag("hubspot_contacts", "20260101T000000-abc")
    args = connect_arguments(_connection(server), tmp_path, "activate:hubspot_contacts:20260101T000000-abc")
    assert args["session_parameters"]["QUERY_TAG"] == "activate:hubspot_contacts:20260101T000000-abc"
    try:
        assert reader.columns("select 1 as x") == ["X"]
        assert reader.session._session_parameters["QUERY_TAG"] == "activate:hubspot_contacts:20260101T000000-abc"
    finally:
        reader.close()


def test_in_process_patch_falls_back_to_fetchmany(tmp_path: Path) -> None:
    import fakesnow
    import snowflake.connector

    with fakesnow.patch():
        setup = snowflake.connector.connect(account="a", user="u", password="p")
        setup.cursor().execute("CREATE DATABASE patch_db")
        setup.cursor().execute("CREATE SCHEMA patch_db.public")
        setup.cursor().execute(
            "CREATE TABLE patch_db.public.t AS SELECT seq4() AS id FROM TABLE(GENERATOR(ROWCOUNT => 25))"
        )
        spec = {"type": "snowflake", "account": "a", "user": "u", "password": "p"}
        connection = SnowflakeConnection.model_validate({**spec, "database": "patch_db", "schema": "public"})
        reader = SnowflakeReader(connection, tmp_path)
        try:
            sizes = [b.num_rows for b in reader.batches("select id from t", batch_size=10)]
        finally:
            reader.close()
    assert sizes == [10, 10, 5]


def test_a_failing_query_is_a_source_error(server: dict[str, Any], tmp_path: Path) -> None:
    reader = SnowflakeReader(_connection(server), tmp_path)
    try:
        with pytest.raises(SourceError, match="NO_SUCH_TABLE|no_such_table"):
            list(reader.batches("select * from no_such_table"))
    finally:
        reader.close()


# -- key-pair auth ---------------------------------------------------------------------------------------------------


def _write_key(path: Path, passphrase: str | None) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return path


def test_key_pair_is_the_default_and_loads_an_encrypted_key(tmp_path: Path) -> None:
    _write_key(tmp_path / "rsa_key.p8", PASSPHRASE)
    connection = SnowflakeConnection.model_validate(
        {
            "type": "snowflake",
            "account": "acme",
            "user": "svc",
            "private_key_path": "rsa_key.p8",
            "private_key_passphrase": PASSPHRASE,
            "password": "ignored-when-a-key-is-given",
        }
    )
    args = connect_arguments(connection, tmp_path, "activate:s:r")
    assert args["authenticator"] == "SNOWFLAKE_JWT"
    assert "password" not in args
    serialization.load_der_private_key(args["private_key"], password=None)


def test_missing_key_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"private_key_path .*missing\.p8 does not exist") as info:
        load_private_key("missing.p8", PASSPHRASE, tmp_path)
    assert PASSPHRASE not in str(info.value)


def test_wrong_passphrase_is_clear_and_never_echoed(tmp_path: Path) -> None:
    _write_key(tmp_path / "k.p8", PASSPHRASE)
    with pytest.raises(SourceError, match="private_key_passphrase is wrong") as info:
        load_private_key("k.p8", "Tr0ub4dor&3", tmp_path)
    assert "Tr0ub4dor&3" not in str(info.value)
    assert info.value.__cause__ is None, "the cryptography error (which may quote input) is not chained"


def test_encrypted_key_without_passphrase_and_plain_key_with_one(tmp_path: Path) -> None:
    _write_key(tmp_path / "enc.p8", PASSPHRASE)
    _write_key(tmp_path / "plain.p8", None)
    with pytest.raises(SourceError, match="is encrypted: set private_key_passphrase"):
        load_private_key("enc.p8", None, tmp_path)
    with pytest.raises(SourceError, match="is not encrypted, but private_key_passphrase is set") as info:
        load_private_key("plain.p8", PASSPHRASE, tmp_path)
    assert PASSPHRASE not in str(info.value)


def test_no_credentials_is_a_clear_error(tmp_path: Path) -> None:
    connection = SnowflakeConnection.model_validate({"type": "snowflake", "account": "acme", "user": "svc"})
    with pytest.raises(SourceError, match="private_key_path .*token .*password"):
        connect_arguments(connection, tmp_path, None)


def test_oauth_token(tmp_path: Path) -> None:
    connection = SnowflakeConnection.model_validate(
        {"type": "snowflake", "account": "acme", "user": "svc", "token": "oauth-token"}
    )
    args = connect_arguments(connection, tmp_path, None)
    assert (args["authenticator"], args["token"]) == ("oauth", "oauth-token")
