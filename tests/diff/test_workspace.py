"""The diff workspace: a DuckDB warehouse read in place keys, hashes and renders rows exactly as streamed Arrow
batches do (so upgrading never re-sends a row), and a mapping of any width plans and runs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from activate.diff.workspace import DiffWorkspace
from activate.sources.config import DuckDBConnection
from activate.sources.readers import DuckDBReader
from activate.state.store import StateReader
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

TYPES = """
    SELECT i AS id,
           i::TINYINT AS tiny, i::HUGEINT * 1000000000000 AS huge, (i / 7)::DECIMAL(18, 4) AS dec,
           i / 3 AS dbl, (i % 2 = 0) AS flag, 'text ' || i || ' "quoted" ünï' AS txt,
           DATE '2024-01-01' + i::INTEGER AS d, TIME '01:02:03' AS t,
           TIMESTAMP '2024-01-01 10:00:00.123456' + to_minutes(i) AS ts,
           TIMESTAMPTZ '2024-01-01 10:00:00+02' AS tstz, TIMESTAMP_MS '2024-01-01 10:00:00.5' AS ts_ms,
           uuid_v4_fixed AS u, [i, i + 1] AS lst, {'a': i, 'b': 'x'} AS st, MAP {'k': i} AS mp,
           '{"j": 1}'::JSON AS js, to_days(i::INTEGER) AS iv, CASE WHEN i = 2 THEN NULL ELSE i END AS maybe,
           CASE WHEN i = 3 THEN 'nan'::DOUBLE ELSE 1.5 END AS nanny, CASE WHEN i = 1 THEN 'a'::BLOB END AS bytes
    FROM range(1, 6) r(i), (SELECT '00000000-0000-0000-0000-000000000001'::UUID AS uuid_v4_fixed)
"""


def _warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE things AS {TYPES}")
    con.close()
    return path


def _diffed(ws: DiffWorkspace, tmp_path: Path) -> tuple[dict[str, tuple[str, str | None]], dict[str, str]]:
    ws.stage_state(StateReader(f"duckdb:///{tmp_path}/none.duckdb"), "s")
    ws.diff("cfg")
    planned = {r.row_key: (r.row_hash or "", r.payload) for chunk in ws.planned(["added"]) for r in chunk}
    invalid = {r.row_key: r.reason for chunk in ws.invalid_rows() for r in chunk}
    return planned, invalid


def test_a_duckdb_warehouse_read_in_place_hashes_like_streamed_batches(tmp_path: Path) -> None:
    path = _warehouse(tmp_path)
    query = "select * from things"
    with DiffWorkspace() as ws:
        assert ws.attach_duckdb(str(path))
        columns = ws.source_columns(query)
        hashed = sorted(c for c in columns if c != "id")
        ws.stage_query(query, ["id"], hashed)
        in_place = _diffed(ws, tmp_path)
    reader = DuckDBReader(DuckDBConnection(type="duckdb", path=str(path)), tmp_path)
    with DiffWorkspace() as ws:
        ws.stage_snapshot(reader.batches(query, batch_size=2), ["id"], hashed)
        streamed = _diffed(ws, tmp_path)
    reader.close()
    assert in_place == streamed
    planned, invalid = in_place
    assert set(planned) == {"2", "4", "5"}
    assert "NaN" in invalid["3"]
    assert "bytes" in invalid["1"]


def test_a_query_names_tables_as_on_a_direct_connection(tmp_path: Path) -> None:
    """The attached warehouse is the default catalog: `wh.things`, `main.things` and `things` all resolve."""
    path = _warehouse(tmp_path)
    for query in ("select id, txt from things", "select id, txt from main.things", "select id, txt from wh.things"):
        with DiffWorkspace() as ws:
            assert ws.attach_duckdb(str(path))
            assert ws.stage_query(query, ["id"], ["txt"]) == 5


def _wide_project(root: Path, sim: WebhookSimulator, width: int) -> ScratchProject:
    project = ScratchProject(root)
    columns = ", ".join(
        f"i * {c} AS n{c}" if c % 3 == 0 else (f"'v' || i || '_{c}' AS s{c}" if c % 3 == 1 else f"i % 2 = 0 AS b{c}")
        for c in range(width)
    )
    project.execute(f"create table wide as select i as id, {columns} from range(1, 21) r(i)")
    names = [f"n{c}" if c % 3 == 0 else (f"s{c}" if c % 3 == 1 else f"b{c}") for c in range(width)]
    project.add_connection("hooks", {"type": "webhook", "url": sim.url, "batch_size": 10})
    project.add_sync(
        "wide_hook",
        {"connection": "hooks", "object": "wide", "mode": "upsert", "mapping": {f"f_{n}": n for n in names}},
        query="select * from wide",
    )
    return project


@pytest.mark.slow
def test_a_sync_mapping_1000_columns_plans_and_runs(tmp_path: Path) -> None:
    """A 1,000-column mapping once failed every run with DuckDB's "Max expression depth limit of 1000 exceeded"."""
    with WebhookSimulator() as sim:
        project = _wide_project(tmp_path, sim, 1000)
        plan = project.plan("wide_hook")
        assert plan.counts.added == 20
        assert len(plan.samples["added"][0]["fields"]) == 1000
        summary = project.run("wide_hook")
        assert summary.status == "succeeded", summary.error
        assert summary.rows_succeeded == 20
        rows = sim.rows("wide")
        assert len(rows) == 20
        [record] = rows["7"]
        fields = {k: v for k, v in record.items() if k != "_id"}
        assert len(fields) == 1000
        assert fields["f_n3"] == 21
        assert fields["f_s1"] == "v7_1"
        assert fields["f_b2"] is False
        again = project.run("wide_hook")
        assert again.status == "succeeded"
        assert again.api_calls == 0


@pytest.mark.parametrize("stem", ["memory", "temp"])
def test_a_warehouse_named_like_a_workspace_catalog_is_streamed(tmp_path: Path, stem: str) -> None:
    path = tmp_path / f"{stem}.duckdb"
    duckdb.connect(str(path)).close()
    with DiffWorkspace() as ws:
        assert not ws.attach_duckdb(str(path))


def test_rows_that_cannot_be_sent_are_named_in_source_order_read_in_place_or_streamed(tmp_path: Path) -> None:
    """A query read in place is hashed without row numbers; its unsendable rows are numbered afterwards, exactly as
    streamed batches number them, and can still be read once the warehouse is let go (after `planned`)."""
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (id INTEGER, email VARCHAR, score DOUBLE)")
    con.execute(
        "INSERT INTO t VALUES (1, 'a', 1), (NULL, 'b', 1), (2, 'c', 1), (2, 'd', 1), (NULL, 'e', 1), "
        "(3, 'f', 'nan'::DOUBLE), (4, 'A ', 1), (5, 'g', 1)"
    )
    con.close()
    query = "select * from t"

    def diffed(ws: DiffWorkspace) -> tuple[list[tuple[str, str, str]], set[str]]:
        ws.stage_state(StateReader(f"duckdb:///{tmp_path}/none.duckdb"), "s")
        counts = ws.diff("cfg", match=("email", "email"))
        assert (counts.rows_read, counts.invalid, counts.added) == (8, 6, 2)
        planned = {r.row_key for chunk in ws.planned(["added"]) for r in chunk}
        return [(r.row_key, r.reason, r.code) for chunk in ws.invalid_rows() for r in chunk], planned

    with DiffWorkspace() as ws:
        assert ws.attach_duckdb(str(path))
        ws.stage_query(query, ["id"], ["email", "score"], "email")
        in_place = diffed(ws)
    reader = DuckDBReader(DuckDBConnection(type="duckdb", path=str(path)), tmp_path)
    with DiffWorkspace() as ws:
        ws.stage_snapshot(reader.batches(query, batch_size=3), ["id"], ["email", "score"])
        streamed = diffed(ws)
    reader.close()
    assert in_place == streamed
    invalid, planned = in_place
    assert planned == {"1", "5"}
    assert [key for key, _, _ in invalid] == ["<row 2>", "2", "2", "<row 5>", "3", "4"]
    assert [code for _, _, code in invalid][-1] == "DUPLICATE_MATCH_VALUE"
