"""Tables, projects and request-log queries shared by the field-level state tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activate.testing.hubspot import HubSpotSimulator
from activate.testing.project import ScratchProject

# f01..f17 besides customer_id, email and phone: a 20-field HubSpot mapping
EXTRA_FIELDS = [f"f{i:02d}" for i in range(1, 18)]


def customers_table(project: ScratchProject, rows: int) -> None:
    """(Re)create `customers(id, customer_id, email, phone, f01..f17)` with `rows` rows; every value is text."""
    extra = ", ".join(f"{name} varchar" for name in EXTRA_FIELDS)
    values = ", ".join(f"'{name}-' || i" for name in EXTRA_FIELDS)
    project.execute(
        "drop table if exists customers",
        f"create table customers (id integer primary key, customer_id varchar, email varchar, phone varchar, {extra})",
        f"insert into customers select i, 'C-' || i, 'person' || i || '@example.com', '555-' || i, {values} "
        f"from range(1, {rows + 1}) r(i)",
    )


def hubspot_project(root: Path, sim: HubSpotSimulator, *, state_url: str | None = None) -> ScratchProject:
    project = ScratchProject(root, state_url=state_url)
    project.add_connection("hubspot", {"type": "hubspot", "access_token": sim.token, "base_url": sim.url})
    return project


def wide_mapping() -> dict[str, str]:
    """The 20 fields of the `customers` table, each from its own column."""
    return {"customer_id": "customer_id", "email": "email", "phone": "phone", **{n: n for n in EXTRA_FIELDS}}


def upsert_inputs(sim: HubSpotSimulator) -> list[dict[str, Any]]:
    """Every input of every batch/upsert request the simulator answered, in order."""
    return [i for call in sim.answered.calls("POST", "/batch/upsert") for i in call.json()["inputs"]]
