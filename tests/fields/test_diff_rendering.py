"""Fast checks of the pieces behind `plan --diff/--key` and `rows --diff`: key canonicalisation, the old → new
lines, what a recorded row result shows, and a partial write's audited changes (never the match field)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from activate.cli.audit import row_changes
from activate.cli.console import change_lines
from activate.errors import UsageError
from activate.fieldstate import FieldRules, encode_fields, plan_fields
from activate.plan.keys import canonical_keys
from activate.state.records import RowResultRecord


def test_composite_keys_are_spelled_as_the_state_tables_spell_them() -> None:
    keys = canonical_keys(['[1, "eu"]', '[1,"eu"]', '[2, "été"]'], ["id", "region"], "s")
    assert keys == ['[1,"eu"]', '[2,"été"]']
    assert canonical_keys(["42", " 7"], ["id"], "s") == ["42", " 7"]


@pytest.mark.parametrize("bad", ["1", "[1]", '{"id": 1}', "[1, 2, 3]"])
def test_a_composite_key_of_the_wrong_shape_says_what_to_give(bad: str) -> None:
    with pytest.raises(UsageError, match=r'give it as \["<id>", "<region>"\]'):
        canonical_keys([bad], ["id", "region"], "s")


def test_change_lines_show_values_as_json_and_unknown_old_values_as_a_question_mark() -> None:
    lines = change_lines(
        {
            "phone": {"old": "555", "new": None},
            "score": {"old": Decimal("0.1000000000000000000001"), "new": 2},
            "name": {"new": 'A "b"'},
        }
    )
    assert lines == ['name: ? → "A \\"b\\""', 'phone: "555" → null', "score: 0.1000000000000000000001 → 2"]


def record(
    operation: str, status: str, previous_hash: str | None, changes: str | None = None, **extra: str
) -> RowResultRecord:
    return RowResultRecord(
        "run",
        "s",
        "7",
        operation,
        status,
        None,
        None,
        extra.get("message"),
        1,
        datetime.now(UTC),
        changes,
        previous_hash,
    )


def test_a_row_result_shows_created_changed_or_why_nothing_changed() -> None:
    created = row_changes(record("upsert", "succeeded", None))
    assert (created["created"], created["changes"]) == (True, {})
    assert row_changes(record("upsert", "failed", None))["created"] is False
    assert row_changes(record("insert", "skipped", None))["created"] is False
    matched = row_changes(record("update", "succeeded", None))
    assert matched["created"] is False
    assert matched["note"] == "first synced by this run: the values it replaced are not known"
    changed = row_changes(record("upsert", "succeeded", "h", '{"a":{"new":2,"old":1}}'))
    assert changed["changes"] == {"a": {"old": 1, "new": 2}}
    forgotten = row_changes(record("delete", "skipped", None, message="removed from the source"))
    assert (forgotten["created"], forgotten["note"]) == (False, "removed from the source")


def test_a_partial_write_sends_the_match_field_but_never_audits_it_as_changed() -> None:
    rules = FieldRules(frozenset(), frozenset(), "customer_id", partial=True)
    previous = encode_fields({"customer_id": "C-1", "name": "old", "city": "Paris"})

    write = plan_fields(rules, {"customer_id": "C-1", "name": "new", "city": "Paris"}, previous, "h", creates=False)

    assert write.send == {"customer_id": "C-1", "name": "new"}
    assert write.changed == ("name",)
    assert write.written.changes == encode_fields({"name": {"old": "old", "new": "new"}})
    assert write.written.fields == encode_fields({"customer_id": "C-1", "name": "new", "city": "Paris"})


def test_json_output_keeps_every_digit_of_a_decimal(capsys: pytest.CaptureFixture[str]) -> None:
    from activate.cli.console import JsonConsole

    JsonConsole().row_changes(
        [{"key": "1", "changes": {"amount": {"old": Decimal("12345678901234567890.123"), "new": None}}}]
    )

    line = capsys.readouterr().out
    assert '"old": 12345678901234567890.123' in line
    assert json.loads(line)["type"] == "row_changes"
