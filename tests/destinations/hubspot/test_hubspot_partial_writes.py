"""Partial updates through the HubSpot writer: each input carries exactly the properties its row carries, the
simulated record keeps every other property (HubSpot's batch update/upsert overwrite only what they are given), and
a None clears a property with HubSpot's empty string. Real hubspot-api-client over real HTTP to the simulator."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot_support import NewWriter, writes

from activate.destinations.base import Operation, RowOp, RowStatus, WriteBatch
from activate.testing.hubspot import HubSpotSimulator, PropertyDef

FULL = {"firstname": "Ada", "lastname": "Lovelace", "phone": "555-0100", "company": "Engines", "website": "ada.dev"}


def customer(i: int, op: Operation, **fields: Any) -> RowOp:
    """A contacts row matched on the unique custom property `customer_id`, carrying only `fields` besides it."""
    return RowOp(str(i), op, {"customer_id": f"C-{i}", **fields}, None, f"C-{i}")


@pytest.fixture
def seeded(sim: HubSpotSimulator, new_writer: NewWriter) -> NewWriter:
    """Three contacts written in full by `customer_id`, then the request log cleared."""
    sim.add_property("contacts", PropertyDef("customer_id", unique=True))
    writer, _ = new_writer(match="customer_id")
    rows = [customer(i, Operation.UPSERT, email=f"p{i}@example.com", **FULL) for i in range(3)]
    assert {r.status for r in writer.write(WriteBatch(Operation.UPSERT, rows))} == {RowStatus.SUCCEEDED}
    sim.answered.clear()
    return new_writer


def records(sim: HubSpotSimulator) -> dict[str, dict[str, str]]:
    return {r["customer_id"]: {k: v for k, v in r.items() if k != "id"} for r in sim.records("contacts")}


@pytest.mark.parametrize(("mode", "kind"), [("upsert", "upsert"), ("update", "update")])
def test_each_input_carries_exactly_its_rows_fields_and_the_record_keeps_the_rest(
    sim: HubSpotSimulator, seeded: NewWriter, mode: str, kind: str
) -> None:
    writer, stats = seeded(mode=mode, match="customer_id")
    op = Operation.UPSERT if mode == "upsert" else Operation.UPDATE
    rows = [
        customer(0, op, phone="555-0199"),
        customer(1, op, firstname="Augusta", company=None),
        customer(2, op),  # only the match property: nothing else changes
    ]

    results = writer.write(WriteBatch(op, rows))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    [call] = writes(sim, kind)
    assert stats.api_calls == 1
    inputs = {i["objectWriteTraceId"]: i for i in call.json()["inputs"]}
    assert {k: i["properties"] for k, i in inputs.items()} == {
        "0": {"customer_id": "C-0", "phone": "555-0199"},
        "1": {"customer_id": "C-1", "firstname": "Augusta", "company": ""},  # None clears: HubSpot's empty string
        "2": {"customer_id": "C-2"},
    }
    assert {i["idProperty"] for i in inputs.values()} == {"customer_id"}
    after = records(sim)
    assert after["C-0"] == {"customer_id": "C-0", "email": "p0@example.com", **FULL, "phone": "555-0199"}
    assert after["C-1"] == {
        "customer_id": "C-1",
        "email": "p1@example.com",
        **FULL,
        "firstname": "Augusta",
        "company": "",
    }
    assert after["C-2"] == {"customer_id": "C-2", "email": "p2@example.com", **FULL}


def test_a_partial_upsert_of_a_new_record_creates_it_with_what_it_carries(
    sim: HubSpotSimulator, seeded: NewWriter
) -> None:
    writer, _ = seeded(match="customer_id")

    [result] = writer.write(WriteBatch(Operation.UPSERT, [customer(9, Operation.UPSERT, email="p9@example.com")]))

    assert result.status is RowStatus.SUCCEEDED
    [call] = writes(sim, "upsert")
    assert call.json()["inputs"][0]["properties"] == {"customer_id": "C-9", "email": "p9@example.com"}
    assert records(sim)["C-9"] == {"customer_id": "C-9", "email": "p9@example.com"}


def test_update_by_email_sends_only_the_given_properties(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer(match="email")
    full = [
        RowOp(str(i), Operation.UPSERT, {"email": f"p{i}@example.com", **FULL}, None, f"p{i}@example.com")
        for i in range(2)
    ]
    writer.write(WriteBatch(Operation.UPSERT, full))
    sim.answered.clear()
    updater, _ = new_writer(mode="update", match="email")
    rows = [
        RowOp("0", Operation.UPDATE, {"email": "p0@example.com", "lastname": None}, None, "p0@example.com"),
        RowOp("1", Operation.UPDATE, {"email": "p1@example.com", "website": "b.dev"}, None, "p1@example.com"),
    ]

    assert {r.status for r in updater.write(WriteBatch(Operation.UPDATE, rows))} == {RowStatus.SUCCEEDED}

    [call] = writes(sim, "update")
    assert [i["properties"] for i in call.json()["inputs"]] == [
        {"email": "p0@example.com", "lastname": ""},
        {"email": "p1@example.com", "website": "b.dev"},
    ]
    by_email = {r["email"]: r for r in sim.records("contacts")}
    assert (by_email["p0@example.com"]["lastname"], by_email["p0@example.com"]["phone"]) == ("", "555-0100")
    assert (by_email["p1@example.com"]["website"], by_email["p1@example.com"]["firstname"]) == ("b.dev", "Ada")
