"""Positions: every key and value of a YAML file at 1-based line/column, absent paths at their nearest parent."""

from __future__ import annotations

from activate.config.document import parse_document
from activate.config.positions import format_path

TEXT = """\
source:
  primary_key: [region, id]
destination:
  mapping:
    Account.External_Id__c: ext_id
  message:
    text: |
      hello
      {{ row.name }}
"""


def test_keys_values_and_list_items() -> None:
    positions = parse_document(TEXT, "syncs/x.yml").positions

    assert positions.at("source") == (1, 1)
    assert positions.value_at("source") == (2, 3)
    assert positions.at("source.primary_key") == (2, 3)
    assert positions.value_at("source.primary_key") == (2, 16)
    assert positions.at("source.primary_key[1]") == (2, 25)
    assert positions.at("destination.mapping.Account.External_Id__c") == (5, 5)
    assert positions.span("destination.message.text").block
    assert positions.value_at(("destination", "message", "text")) == (7, 11)
    assert positions.has("destination.mapping")
    assert not positions.has("destination.mode")


def test_absent_paths_resolve_to_the_nearest_written_parent() -> None:
    positions = parse_document(TEXT, "syncs/x.yml").positions

    assert positions.at("destination.mode") == (3, 1)
    assert positions.at("destination.mapping.Account.Name") == (4, 3)
    assert positions.at("source.primary_key[7]") == (2, 3)
    assert positions.at("schedule") == (1, 1)
    assert positions.where("destination.mapping.Account.External_Id__c") == "syncs/x.yml:5:5"


def test_format_path() -> None:
    assert format_path(("source", "primary_key", 1)) == "source.primary_key[1]"
    assert format_path(("message", "blocks", 0, "text")) == "message.blocks[0].text"
    assert format_path(()) == ""
