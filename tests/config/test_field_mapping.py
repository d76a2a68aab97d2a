"""The mapping's long form (`{column: stage, on: create}`, `{column: phone, nulls: skip}`, `{template: ...}`), the
sync's `update:` and the `max_cleared_fields` guardrail: parsed, positioned, hashed, and compiled into `RowMapping`.

Bad long forms are cases of the broken-files corpus (`broken/mapping_long_*`, `mapping_match_*`); these tests cover
what a valid file means.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from activate.config import DestinationSpec, FieldMapping, LoadedSync, Positions, load_project
from activate.config.models import CountOrPercent, GuardrailSpec, SourceSpec, SyncSpec
from activate.plan.mapping import FieldSource, RowMapping

CRM = """
    connections:
      warehouse: {type: duckdb, path: warehouse.duckdb}
      crm:
        type: testcrm
        auth: {method: token, token: crm-secret-token}
      chat: {type: testchat, token: xoxb-chat-secret}
"""

ISSUE_EXAMPLE = """
    source: {connection: warehouse, table: contacts, primary_key: id}
    destination:
      connection: crm
      object: contacts
      match: email
      update: changed_fields
      mapping:
        email: email
        lifecyclestage: {column: stage, on: create}        # written only when the record is created
        phone: {column: phone, nulls: skip}                # a null never clears the destination value
        score: {template: "{{ row.score | round(1) }}"}    # same as the short form
        plan:
          template: "{{ row.plan | upper }}"
          on: create
          nulls: skip
    guardrails:
      max_cleared_fields: "5%"
"""


def _load(make_project, text: str, name: str = "s") -> LoadedSync:
    root = make_project(CRM, {f"syncs/{name}.yml": text})
    return load_project(root, env={}).sync(name)


def _destination(mapping: str, extra: str = "") -> str:
    return f"""
        source: {{connection: warehouse, table: t, primary_key: id}}
        destination: {{connection: crm, object: contacts, match: email, mapping: {mapping}{extra}}}
    """


def test_the_issue_example_loads_with_both_forms(make_project) -> None:
    spec = _load(make_project, ISSUE_EXAMPLE).spec

    mapping = spec.destination.mapping
    assert mapping["email"] == "email"
    assert mapping["lifecyclestage"] == FieldMapping(column="stage", on="create")
    assert mapping["phone"] == FieldMapping(column="phone", nulls="skip")
    assert mapping["score"] == FieldMapping(template="{{ row.score | round(1) }}")
    assert spec.destination.update == "changed_fields"
    assert spec.guardrails.max_cleared_fields == CountOrPercent(percent=5.0)


def test_field_mappings_gives_every_value_in_the_long_form_in_mapping_order(make_project) -> None:
    spec = _load(make_project, ISSUE_EXAMPLE).spec

    rules = spec.destination.field_mappings()
    assert list(rules) == ["email", "lifecyclestage", "phone", "score", "plan"]
    assert rules["email"] == FieldMapping(column="email")
    assert rules["plan"] == FieldMapping(template="{{ row.plan | upper }}", on="create", nulls="skip")


def test_a_short_form_value_reads_as_a_column_or_as_a_template() -> None:
    assert FieldMapping.of(" first_name ") == FieldMapping(column="first_name")
    assert FieldMapping.of("{{ row.x }}") == FieldMapping(template="{{ row.x }}")
    long = FieldMapping(column="phone", nulls="skip")
    assert FieldMapping.of(long) is long


def test_short_form_is_what_a_rule_free_long_form_means() -> None:
    assert FieldMapping(column="email").short_form == "email"
    assert FieldMapping(template="{{ row.x }}").short_form == "{{ row.x }}"
    assert FieldMapping(column="email", on="create").short_form is None
    assert FieldMapping(column="email", nulls="skip").short_form is None
    # constant text: as a short form it would name a column
    assert FieldMapping(template="activate").short_form is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"column": "a", "template": "{{ row.a }}"}, "exactly one of column or template (got both)"),
        ({}, "exactly one of column or template"),
        ({"on": "create"}, "exactly one of column or template"),
        ({"column": "  "}, "an empty column names no source column"),
        ({"template": " "}, "an empty template renders nothing"),
        ({"column": "{{ row.a }}"}, "a column name holds no Jinja markup"),
        ({"column": "a", "on": "sometimes"}, "Input should be 'always' or 'create'"),
        ({"column": "a", "nulls": "maybe"}, "Input should be 'send' or 'skip'"),
        ({"column": "a", "default": 1}, "Extra inputs are not permitted"),
        ({"column": 5}, "Input should be a valid string"),
    ],
)
def test_a_long_form_refuses(value: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FieldMapping.model_validate(value)


def test_update_defaults_to_all_and_refuses_other_values() -> None:
    spec = DestinationSpec(connection="c", object="o")
    assert spec.update == "all"
    with pytest.raises(ValidationError, match="'all' or 'changed_fields'"):
        DestinationSpec(connection="c", object="o", update="changed")  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "parsed"), [(50, CountOrPercent(count=50)), ("5%", CountOrPercent(percent=5.0))])
def test_max_cleared_fields_is_parsed_like_max_deletes(value: object, parsed: CountOrPercent) -> None:
    assert GuardrailSpec.model_validate({"max_cleared_fields": value}).max_cleared_fields == parsed
    assert GuardrailSpec().max_cleared_fields is None
    with pytest.raises(ValidationError, match="at most 100%"):
        GuardrailSpec.model_validate({"max_cleared_fields": "150%"})


def test_changed_fields_on_a_chat_sync_is_allowed(make_project) -> None:
    text = """
        source: {connection: warehouse, table: alerts, primary_key: id}
        destination:
          connection: chat
          object: alerts
          update: changed_fields
          message: {text: "{{ row.title }}"}
    """
    assert _load(make_project, text).spec.destination.update == "changed_fields"


def test_long_form_positions_point_at_its_keys(make_project) -> None:
    sync = _load(make_project, ISSUE_EXAMPLE)

    assert sync.where("destination.mapping.lifecyclestage") == "syncs/s.yml:9:5"
    assert sync.positions.value_at("destination.mapping.lifecyclestage.on") == (9, 41)
    assert sync.where("destination.mapping.plan.template") == "syncs/s.yml:13:7"


def test_columns_used_reads_long_form_columns_and_templates_at_their_keys(make_project) -> None:
    sync = _load(make_project, ISSUE_EXAMPLE)

    assert sync.columns_used() == {
        "email": "destination.mapping.email",
        "stage": "destination.mapping.lifecyclestage.column",
        "phone": "destination.mapping.phone.column",
        "score": "destination.mapping.score.template",
        "plan": "destination.mapping.plan.template",
    }


def test_a_long_form_template_without_markup_is_constant_text_reading_no_column(make_project) -> None:
    sync = _load(make_project, _destination("{email: email, lead_source: {template: activate}}"))

    assert sync.columns_used() == {"email": "destination.mapping.email"}
    mapping = RowMapping(sync.spec.destination)
    assert mapping.columns() == {"email"}
    assert mapping.render({"email": "a@x.io"}) == {"email": "a@x.io", "lead_source": "activate"}


def test_config_hash_long_form_without_rules_equals_the_short_form(make_project) -> None:
    short = _load(make_project, _destination("{email: email, score: '{{ row.score }}'}")).config_hash
    long = _load(make_project, _destination("{email: {column: email}, score: {template: '{{ row.score }}'}}"))
    explicit = _load(make_project, _destination("{email: email, score: {template: '{{ row.score }}', on: always}}"))

    assert long.config_hash == short  # writing a field in the long form re-sends nothing
    assert explicit.config_hash == short


@pytest.mark.parametrize("rule", ["on: create", "nulls: skip"])
def test_config_hash_changes_with_a_rule(make_project, rule: str) -> None:
    base = _load(make_project, _destination("{email: email, phone: phone}")).config_hash
    ruled = _load(make_project, _destination(f"{{email: email, phone: {{column: phone, {rule}}}}}")).config_hash

    assert ruled != base  # the new rule decides what the record holds: every row is re-checked once


def test_config_hash_does_not_follow_update(make_project) -> None:
    base = _load(make_project, _destination("{email: email, phone: phone}")).config_hash
    partial = _load(make_project, _destination("{email: email, phone: phone}", ", update: changed_fields"))

    assert partial.spec.destination.update == "changed_fields"
    assert partial.config_hash == base  # how a change is sent, not what the record holds


def test_config_hash_of_a_short_form_sync_is_unchanged_by_the_long_form() -> None:
    """The hash of a sync written before the long form existed: pinned, so upgrading re-sends nothing."""
    import hashlib
    import json

    spec = DestinationSpec(connection="crm", object="contacts", match="email", mapping={"email": "email"})
    payload = {
        "connection": "crm",
        "object": "contacts",
        "mode": "upsert",
        "match": "email",
        "mapping": {"email": "email"},
        "message": None,
        "channel": None,
    }
    before = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    source = SourceSpec(connection="w", table="t", primary_key="id")
    sync = LoadedSync(SyncSpec(name="s", source=source, destination=spec), Path("s.yml"), "", Positions("s.yml"))
    assert sync.config_hash == before


def test_row_mapping_carries_each_fields_rules_in_mapping_order(make_project) -> None:
    mapping = RowMapping(_load(make_project, ISSUE_EXAMPLE).spec.destination)

    assert mapping.fields == [
        FieldSource("email", "email", None, frozenset({"email"})),
        FieldSource("lifecyclestage", "stage", None, frozenset({"stage"}), on_create_only=True),
        FieldSource("phone", "phone", None, frozenset({"phone"}), skip_nulls=True),
        FieldSource("score", None, "{{ row.score | round(1) }}", frozenset({"score"})),
        FieldSource("plan", None, "{{ row.plan | upper }}", frozenset({"plan"}), on_create_only=True, skip_nulls=True),
    ]
    assert mapping.columns() == {"email", "stage", "phone", "score", "plan"}


def test_row_mapping_renders_the_long_form_like_the_short_form(make_project) -> None:
    mapping = RowMapping(_load(make_project, ISSUE_EXAMPLE).spec.destination)
    row = {"email": "a@x.io", "stage": "lead", "phone": None, "score": 3.14159, "plan": "pro"}

    assert mapping.render(row) == {
        "email": "a@x.io",
        "lifecyclestage": "lead",
        "phone": None,
        "score": 3.1,
        "plan": "PRO",
    }
