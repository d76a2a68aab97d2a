"""`DestinationPlugin.partial_updates`: which syncs may send a changed row with only its changed fields, per
plugin and spec; and the webhook writer sending exactly each row's fields to the simulator, which merges them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from activate.clock import FakeClock
from activate.config.models import DestinationSpec
from activate.destinations.base import Operation, RowOp, RowStatus, RunStats, WriteBatch, WriteContext
from activate.destinations.registry import destination_plugin
from activate.destinations.webhook import WebhookConnection
from activate.destinations.webhook import plugin as webhook
from activate.http.caller import forget_callers
from activate.testing.webhook_sim import WebhookSimulator


def spec(mode: str = "upsert", match: str | None = None, **extra: Any) -> DestinationSpec:
    return DestinationSpec(connection="c", object="contacts", mode=mode, match=match, **extra)  # type: ignore[arg-type]


EMAIL_UPSERT = (
    "HubSpot's batch upsert by email does not support partial upserts: the full row is sent "
    "(match on a unique custom property to send only changed fields)"
)


@pytest.mark.parametrize(
    ("destination", "mode", "match", "verdict"),
    [
        ("hubspot", "upsert", "customer_id", None),
        ("hubspot", "mirror", "customer_id", None),
        ("hubspot", "update", "customer_id", None),
        ("hubspot", "update", "email", None),  # batch/update by email overwrites only the properties given
        ("hubspot", "upsert", "email", EMAIL_UPSERT),
        ("hubspot", "mirror", "email", EMAIL_UPSERT),
        ("hubspot", "upsert", "Email", EMAIL_UPSERT),
        ("hubspot", "insert", "email", None),  # insert never updates: every row is sent whole anyway
        ("salesforce", "upsert", "Activate_Id__c", None),
        ("salesforce", "update", "Activate_Id__c", None),
        ("salesforce", "mirror", "Email__c", None),
        ("webhook", "upsert", None, None),
        ("webhook", "update", "email", None),
        (
            "slack",
            "upsert",
            None,
            "Slack replaces a message as a whole (chat.update): the full row is rendered and sent",
        ),
        (
            "slack",
            "mirror",
            None,
            "Slack replaces a message as a whole (chat.update): the full row is rendered and sent",
        ),
    ],
)
def test_partial_updates_verdict(destination: str, mode: str, match: str | None, verdict: str | None) -> None:
    plugin = destination_plugin(destination)
    assert plugin is not None
    assert plugin.partial_updates(spec(mode, match)) == verdict


def test_salesforce_partial_updates_hold_for_either_api() -> None:
    plugin = destination_plugin("salesforce")
    assert plugin is not None
    for api in ("rest", "bulk", "auto"):
        assert plugin.partial_updates(spec("upsert", "Activate_Id__c", api=api)) is None


def test_a_verdict_is_one_sentence() -> None:
    for name in ("hubspot", "slack"):
        plugin = destination_plugin(name)
        assert plugin is not None
        reason = plugin.partial_updates(spec("upsert", "email"))
        assert reason is not None
        assert "\n" not in reason
        assert reason.count(". ") == 0


@pytest.fixture
def hook() -> Iterator[WebhookSimulator]:
    forget_callers()
    with WebhookSimulator(clock=FakeClock()) as simulator:
        yield simulator
    forget_callers()


def test_webhook_rows_carry_exactly_their_fields_and_the_endpoint_merges_them(hook: WebhookSimulator) -> None:
    clock = FakeClock()
    context = WriteContext("people_sync", "run-1", spec(match="email"), RunStats(), clock)
    writer = webhook.create(WebhookConnection(url=hook.url), context)
    full = {"email": "", "name": "Ada", "phone": "555", "plan": "pro"}
    try:
        first = [RowOp(str(i), Operation.UPSERT, {**full, "email": f"p{i}@example.com"}) for i in range(3)]
        writer.write(WriteBatch(Operation.UPSERT, first))
        hook.server.log.clear()
        rows = [
            RowOp("0", Operation.UPDATE, {"email": "p0@example.com", "plan": "team"}),
            RowOp("1", Operation.UPDATE, {"email": "p1@example.com", "phone": None}),
            RowOp("2", Operation.UPDATE, {"email": "p2@example.com"}),
        ]
        results = writer.write(WriteBatch(Operation.UPDATE, rows))
    finally:
        writer.close()

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    [call] = hook.server.log.calls("POST")
    assert [r["fields"] for r in call.json()["rows"]] == [
        {"email": "p0@example.com", "plan": "team"},
        {"email": "p1@example.com", "phone": None},
        {"email": "p2@example.com"},
    ]
    stored = {
        key: {k: v for k, v in records[0].items() if k != "_id"} for key, records in hook.records["contacts"].items()
    }
    assert stored == {
        "0": {**full, "email": "p0@example.com", "plan": "team"},
        "1": {**full, "email": "p1@example.com", "phone": None},
        "2": {**full, "email": "p2@example.com"},
    }
