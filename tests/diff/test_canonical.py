"""Canonical values, keys and hashes: every warehouse type, stable across processes, bad values rejected per row."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest

from activate.diff.workspace import DiffWorkspace
from activate.state.store import StateReader


def _snapshot(table: pa.Table, key: list[str], hashed: list[str]) -> list[tuple]:
    """(row_key, row_hash, payload, invalid_reason) per row, in source order, against an empty state."""
    with tempfile.TemporaryDirectory() as tmp, DiffWorkspace() as ws:
        ws.stage_snapshot(iter(table.to_batches()), key, sorted(hashed))
        ws.stage_state(StateReader(f"duckdb:///{tmp}/none.duckdb"), "s")
        ws.diff("cfg")
        payloads = {r.row_key: (r.row_hash, r.payload) for chunk in ws.planned(["added"]) for r in chunk}
        invalid = {r.row_key: r.reason for chunk in ws.invalid_rows() for r in chunk}
        hashes = dict(ws.query("SELECT row_key, row_hash FROM snapshot"))
        keys = [r[0] for r in ws.query("SELECT row_key FROM snapshot ORDER BY row_number")]
        return [(k, hashes[k], payloads.get(k, (None, None))[1], invalid.get(k)) for k in keys]


def test_every_value_type_has_a_canonical_json_form() -> None:
    table = pa.table(
        {
            "id": [1],
            "dec": pa.array([Decimal("1234567890123456789.50")], pa.decimal128(38, 2)),
            "ts_tz": pa.array(
                [dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))],
                pa.timestamp("us", "+02:00"),
            ),
            "ts": pa.array([dt.datetime(2024, 1, 1, 12, 0, 0, 123)], pa.timestamp("us")),
            "d": [dt.date(2024, 2, 29)],
            "t": [dt.time(1, 2, 3)],
            "b": [True],
            "f": [0.1],
            "s": ['quote " and ünïcode'],
            "u": [str(uuid.UUID(int=1))],
            "nested": pa.array([{"a": [1, 2], "b": None}]),
            "nothing": pa.array([None], pa.int64()),
        }
    )
    [(key, row_hash, payload, reason)] = _snapshot(table, ["id"], [c for c in table.column_names if c != "id"])
    assert key == "1"
    assert reason is None
    assert len(row_hash) == 32
    values = json.loads(payload, parse_float=Decimal)
    assert values["dec"] == Decimal("1234567890123456789.50")  # exact, never through a float
    assert values["ts_tz"] == "2024-01-01T10:00:00.000000Z"  # UTC
    assert values["ts"] == "2024-01-01T12:00:00.000123Z"  # naive taken as UTC
    assert values["d"] == "2024-02-29"
    assert values["t"] == "01:02:03"
    assert values["b"] is True
    assert values["s"] == 'quote " and ünïcode'
    assert values["nested"] == {"a": [1, 2], "b": None}
    assert values["nothing"] is None
    assert list(values) == sorted(values)  # keys sorted: column order never changes the hash


def test_composite_keys_are_json_arrays() -> None:
    table = pa.table({"a": [1], "b": ["x"], "v": [1]})
    [(key, *_)] = _snapshot(table, ["a", "b"], ["v"])
    assert json.loads(key) == [1, "x"]


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        (pa.array([float("nan")]), "NaN or infinite"),
        (pa.array([float("inf")]), "NaN or infinite"),
        (pa.array([b"\x00\x01"]), "holds bytes"),
    ],
)
def test_unsendable_values_are_rejected_per_row_with_a_reason(column: pa.Array, reason: str) -> None:
    table = pa.table({"id": [7], "v": column})
    [(key, _hash, _payload, invalid)] = _snapshot(table, ["id"], ["v"])
    assert key == "7"
    assert reason in invalid


def test_hash_depends_only_on_mapped_columns_and_values() -> None:
    base = pa.table({"id": [1, 2], "v": ["a", "b"], "other": [1, 2]})
    changed_other = pa.table({"id": [1, 2], "v": ["a", "b"], "other": [9, 9]})
    changed_v = pa.table({"id": [1, 2], "v": ["a", "B"], "other": [1, 2]})
    h = [r[1] for r in _snapshot(base, ["id"], ["v"])]
    assert [r[1] for r in _snapshot(changed_other, ["id"], ["v"])] == h
    assert [r[1] for r in _snapshot(changed_v, ["id"], ["v"])] == [h[0], _snapshot(changed_v, ["id"], ["v"])[1][1]]
    assert _snapshot(changed_v, ["id"], ["v"])[1][1] != h[1]


def test_hash_is_stable_across_processes() -> None:
    script = (
        "import pyarrow as pa, decimal, datetime as dt\n"
        "from activate.diff.workspace import DiffWorkspace\n"
        "t = pa.table({'id': [1], 'v': [decimal.Decimal('2.50')], 'ts': [dt.datetime(2024, 5, 1, 3, 4, 5)]})\n"
        "with DiffWorkspace() as ws:\n"
        "    ws.stage_snapshot(iter(t.to_batches()), ['id'], ['v', 'ts'])\n"
        "    print(ws.query('select row_hash from snapshot')[0][0])\n"
    )
    hashes = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(2)
    }
    assert len(hashes) == 1
    # pinned: a change here silently re-sends every row of every user's sync
    # md5('27:2024-05-01T03:04:05.000000Z|4:2.50'), pinned: a change here re-sends every row of every sync
    assert hashes == {"ced34d4aa8d88641abbb56a3951162ed"}


FIRST_ROUND_ROW = """
    select 1::integer as id, 'person1@example.com' as email, 'First1' as first_name, 'Last1' as last_name,
           1.5::double as score, 9999999999999999999999999999.9999999999::decimal(38,10) as d,
           170141183460469231731687303715884105727::hugeint as h, 9223372036854775807::bigint as b,
           12.50::decimal(10,2) as p, true as flag, DATE '2024-02-29' as day
"""


@pytest.mark.parametrize(
    ("hashed", "pinned"),
    [
        # the demo's and tests' `people` row, as the first round hashed it
        (["email", "first_name", "last_name", "score"], "3783d2ddc9e61e4ce09562d4964fefd4"),
        # exact numbers: the hash reads their exact text, so keeping them exact on the wire re-sends nothing
        (["b", "d", "day", "flag", "h", "p"], "a41200fee735535f3d061cf3c4073646"),
    ],
)
def test_first_round_hashes_are_pinned(hashed: list[str], pinned: str) -> None:
    import duckdb

    table = duckdb.connect().sql(FIRST_ROUND_ROW).to_arrow_table()
    with DiffWorkspace() as ws:
        ws.stage_snapshot(iter(table.to_batches()), ["id"], hashed)
        [(row_hash,)] = ws.query("select row_hash from snapshot")
    assert row_hash == pinned, "a changed hash re-sends every row of every user's sync"


# one column of every DuckDB type a warehouse query can return
_EVERY_DUCKDB_TYPE = """
SELECT 1::TINYINT a, 1::SMALLINT b, 1::INTEGER c, 1::BIGINT d, 1::HUGEINT e, 1::UTINYINT f, 1::USMALLINT g,
    1::UINTEGER h, 1::UBIGINT i, 1::UHUGEINT j, 1.5::FLOAT k, 1.5::DOUBLE l, 1.5::DECIMAL(10, 2) m,
    1.5::DECIMAL(30, 2) n, true o, 'x' p, 'x'::BLOB q, '101'::BIT r, DATE '2020-01-01' s, TIME '10:00:00' t,
    TIMETZ '10:00:00+01' u, TIMESTAMP '2020-01-01 00:00:00' v, TIMESTAMPTZ '2020-01-01 00:00:00' w,
    '2020-01-01'::TIMESTAMP_S x, '2020-01-01'::TIMESTAMP_MS y, '2020-01-01'::TIMESTAMP_NS z, uuid() aa,
    INTERVAL 1 DAY ab, [1, 2] ac, [1, 2]::INTEGER[2] ad, {'a': 1} ae, MAP {'a': 1} af,
    union_value(num := 2)::UNION(num INTEGER, str VARCHAR) ag, '{"a": 1}'::JSON ah, 'a'::ENUM('a', 'b') ai, NULL aj,
    '1'::BIGNUM ak
"""


def test_duckdb_types_read_without_arrow_have_the_shape_of_their_arrow_export() -> None:
    """A DuckDB warehouse query is canonicalised from its DuckDB types (no pyarrow import on the plan's path); each
    must give exactly the canonical SQL the Arrow type DuckDB exports it as gives, or the hashes would change."""
    import duckdb

    from activate.diff.canonical import DUCKDB_SHAPES, shapes_of

    con = duckdb.connect()
    relation = con.sql(_EVERY_DUCKDB_TYPE)
    arrow = shapes_of(relation.to_arrow_table().schema)
    read = {name: DUCKDB_SHAPES.get(t.id) for name, t in zip(relation.columns, relation.types, strict=True)}
    assert read["ak"] is None, "a type left to Arrow"
    assert {name: shape for name, shape in read.items() if shape is not None} == {
        name: arrow[name] for name, shape in read.items() if shape is not None
    }
    ids = {t.id for t in relation.types}
    assert set(DUCKDB_SHAPES) <= ids, "every listed type id is checked here"
