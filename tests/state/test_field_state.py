"""Field-level state (issue #11): what a row's write sends under the field rules, what it leaves confirmed in
`activate_state.fields`, and what `activate_row_results` records of it (changed fields old -> new, previous hash).

The rules are unit-tested on `activate.fieldstate.plan_fields`; the plumbing runs a webhook sync end to end over
real HTTP, with the request bodies captured by the simulator, on the DuckDB and the Postgres state store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from activate.fieldstate import FieldRules, deleted_row, parse_fields, plan_fields
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

RULES = FieldRules(create_only=frozenset({"source"}), skip_nulls=frozenset({"phone"}), match="email", partial=True)


def _confirmed(**values: Any) -> str:
    return json.dumps(values)


# -- the rules ----------------------------------------------------------------------------------------------------


def test_a_new_record_gets_every_field_but_a_skipped_null() -> None:
    write = plan_fields(RULES, {"email": "a@x", "source": "ads", "phone": None, "name": "A"}, None, None, creates=True)
    assert write.send == {"email": "a@x", "source": "ads", "name": "A"}
    assert parse_fields(write.written.fields or "") == write.send
    assert (write.written.changes, write.written.previous_hash) == (None, None)


def test_a_changed_row_sends_only_its_changed_fields_and_the_match_field() -> None:
    previous = _confirmed(email="a@x", source="ads", phone="555", name="A", score=1.5)
    rendered = {"email": "a@x", "source": "web", "phone": None, "name": "B", "score": Decimal("1.50")}
    write = plan_fields(RULES, rendered, previous, "h0", creates=False)
    # source is create-only, phone's null is skipped, score 1.50 == 1.5: only name changed
    assert write.send == {"name": "B", "email": "a@x"}
    assert write.changed == ("name",)
    assert parse_fields(write.written.changes or "") == {"name": {"old": "A", "new": "B"}}
    # the destination keeps what it had for every field not sent
    assert parse_fields(write.written.fields or "") == {
        "email": "a@x",
        "source": "ads",
        "phone": "555",
        "name": "B",
        "score": 1.5,
    }
    assert write.written.previous_hash == "h0"


def test_update_all_sends_every_field_it_may_when_one_changed() -> None:
    rules = FieldRules(RULES.create_only, RULES.skip_nulls, "email", partial=False)
    previous = _confirmed(email="a@x", source="ads", phone="555", name="A")
    write = plan_fields(
        rules, {"email": "a@x", "source": "web", "phone": "556", "name": "A"}, previous, "h0", creates=False
    )
    assert write.send == {"email": "a@x", "phone": "556", "name": "A"}
    assert parse_fields(write.written.changes or "") == {"phone": {"old": "555", "new": "556"}}


def test_a_change_in_no_field_this_sync_updates_sends_nothing() -> None:
    previous = _confirmed(email="a@x", source="ads", phone="555", name="A")
    write = plan_fields(
        RULES, {"email": "a@x", "source": "web", "phone": None, "name": "A"}, previous, "h0", creates=False
    )
    assert write.send is None
    assert write.written.fields is None  # the confirmed values stay as they are


def test_a_full_resync_sends_every_field_even_unchanged() -> None:
    rules = FieldRules(RULES.create_only, RULES.skip_nulls, "email", partial=True, force=True)
    previous = _confirmed(email="a@x", source="ads", phone="555", name="A")
    write = plan_fields(
        rules, {"email": "a@x", "source": "ads", "phone": "555", "name": "A"}, previous, "h0", creates=False
    )
    assert write.send == {"email": "a@x", "phone": "555", "name": "A"}


def test_a_row_synced_before_field_state_gets_its_full_row_and_no_old_values() -> None:
    write = plan_fields(RULES, {"email": "a@x", "source": "ads", "name": "A"}, None, "h0", creates=False)
    assert write.send == {"email": "a@x", "name": "A"}
    assert parse_fields(write.written.changes or "") == {"email": {"new": "a@x"}, "name": {"new": "A"}}


def test_a_delete_records_every_confirmed_value_as_old() -> None:
    written = deleted_row(_confirmed(email="a@x", name="A"), "h0")
    assert parse_fields(written.changes or "") == {
        "email": {"old": "a@x", "new": None},
        "name": {"old": "A", "new": None},
    }


# -- the plumbing: a webhook sync, end to end ----------------------------------------------------------------------


class BodyLog(WebhookSimulator):
    """The webhook simulator, keeping every batch body it was posted."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []

    def _post(self, request: Any) -> Any:
        self.bodies.append(request.json())
        return super()._post(request)

    def sent(self) -> list[dict[str, Any]]:
        """Every row sent so far ({key, fields, ...}), in order."""
        return [row for body in self.bodies for row in body["rows"]]


@pytest.fixture
def sim() -> Iterator[BodyLog]:
    with BodyLog() as simulator:
        yield simulator


@pytest.fixture(params=["duckdb-state", "postgres-state"])
def project(request: pytest.FixtureRequest, tmp_path: Path, sim: BodyLog) -> ScratchProject:
    state_url = request.getfixturevalue("postgres_url") if request.param == "postgres-state" else None
    project = ScratchProject(tmp_path / "p", **({"state_url": state_url} if state_url else {}))
    project.people(20)
    project.add_connection("hooks", {"type": "webhook", "url": sim.url})
    project.add_sync(
        "people_hook",
        {
            "connection": "hooks",
            "object": "people",
            "match": "email",
            "update": "changed_fields",
            "mapping": {
                "email": "email",
                "first_name": "first_name",
                "last_name": {"column": "last_name", "on": "create"},
                "score": {"column": "score", "nulls": "skip"},
            },
        },
    )
    return project


def _state_fields(project: ScratchProject, key: str) -> dict[str, Any]:
    row = project.reader().synced_row("people_hook", key)
    return parse_fields(row.fields)


def test_writes_leave_their_confirmed_values_and_audit_what_changed(project: ScratchProject, sim: BodyLog) -> None:
    first = project.run("people_hook")
    assert (first.status, first.rows_succeeded) == ("succeeded", 20)
    assert _state_fields(project, "3") == {
        "email": "person3@example.com",
        "first_name": "First3",
        "last_name": "Last3",
        "score": 4.5,
    }
    created = {r.row_key: r for r in project.reader().row_results(first.run_id)}
    assert (created["3"].changed_fields, created["3"].previous_hash) == (None, None)
    hash_before = project.reader().synced_row("people_hook", "3").row_hash

    sim.bodies.clear()
    project.execute(
        "update people set first_name = 'Renamed' || id where id in (3, 4)",
        "update people set last_name = 'Moved' where id = 5",  # on: create only: nothing to send
        "update people set score = null where id = 6",  # nulls: skip: nothing to send
    )
    second = project.run("people_hook")
    assert (second.status, second.rows_succeeded, second.rows_skipped, second.api_calls) == ("succeeded", 2, 2, 1)
    sent = {row["key"]: row["fields"] for row in sim.sent()}
    assert sent == {
        "3": {"first_name": "Renamed3", "email": "person3@example.com"},
        "4": {"first_name": "Renamed4", "email": "person4@example.com"},
    }
    # the destination record keeps what was not sent
    assert sim.rows("people")["3"][0]["last_name"] == "Last3"
    results = {r.row_key: r for r in project.reader().row_results(second.run_id)}
    assert results["3"].changes() == {"first_name": {"old": "First3", "new": "Renamed3"}}
    assert results["3"].previous_hash == hash_before
    assert results["5"].status == "skipped"
    assert results["5"].changes() == {}
    assert _state_fields(project, "3")["first_name"] == "Renamed3"
    assert _state_fields(project, "5")["last_name"] == "Last5"  # confirmed value stays what the record holds
    assert _state_fields(project, "6")["score"] == 9.0

    sim.bodies.clear()
    third = project.run("people_hook")  # the skipped rows' hashes advanced: nothing is planned again
    assert (third.rows_changed, third.api_calls, sim.bodies) == (0, 0, [])


def test_a_changed_match_value_alone_is_sent() -> None:
    previous = _confirmed(email="a@x", name="A")
    write = plan_fields(RULES, {"email": "b@x", "name": "A"}, previous, "h0", creates=False)
    assert write.send == {"email": "b@x"}
    assert parse_fields(write.written.changes or "") == {"email": {"old": "a@x", "new": "b@x"}}
