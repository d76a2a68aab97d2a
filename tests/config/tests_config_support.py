"""Paths and environment shared by the config tests."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
EXAMPLE = HERE / "example"
PLUGINS = HERE / "plugins"
EXAMPLE_ENV = {
    "PG_PASSWORD": "pg-pass-9931",
    "CRM_TOKEN": "crm-token-1234",
    "CRM_KEY": "abcd5678",
    "CHAT_TOKEN": "xoxb-chat-77",
}


def make_warehouse(root: Path) -> None:
    """`warehouse.duckdb` with `customers(id, email, first_name, ltv)`: what `columns_*` corpus cases describe."""
    import duckdb

    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        con.execute("create table customers (id integer, email varchar, first_name varchar, ltv decimal(12, 2))")
    finally:
        con.close()
