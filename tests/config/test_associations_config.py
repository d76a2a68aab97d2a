"""`destination.associations` (HubSpot) in sync files: the model, positions of its errors, and the dependency order
it adds to `after:` (run order, cycles reported at both links with exit 2)."""

from __future__ import annotations

import pytest
from conftest import ProjectFactory
from typer.testing import CliRunner

from activate.cli.app import app
from activate.config import load_project
from activate.errors import ConfigError

HUBSPOT = """
    connections:
      warehouse: {type: duckdb, path: warehouse.duckdb}
      hubspot: {type: hubspot, access_token: t, base_url: http://127.0.0.1:1}
      crm: {type: testcrm, auth: {method: token, token: x}}
"""

COMPANIES = """
    source: {connection: warehouse, table: companies, primary_key: company_id}
    destination:
      connection: hubspot
      object: companies
      match: company_ref
      mapping: {company_ref: company_id, name: name}
"""

CONTACTS = """
    source: {connection: warehouse, table: people, primary_key: id}
    destination:
      connection: hubspot
      object: contacts
      match: email
      mapping: {email: email}
      associations:
        - to: companies
          sync: hubspot_companies
          key: company_id
          type: 279
"""


def test_associations_load_and_order_the_syncs(make_project: ProjectFactory) -> None:
    root = make_project(HUBSPOT, {"syncs/a_contacts.yml": CONTACTS, "syncs/hubspot_companies.yml": COMPANIES})
    project = load_project(root, env={})
    contacts = project.sync("a_contacts")
    [association] = contacts.spec.destination.associations
    assert (association.to, association.sync, association.key, association.type) == (
        "companies",
        "hubspot_companies",
        "company_id",
        279,
    )
    assert association.category == "HUBSPOT_DEFINED"
    assert contacts.spec.dependencies == ["hubspot_companies"]
    # file order would run a_contacts first: the association puts its companies sync before it
    assert project.run_order() == ["hubspot_companies", "a_contacts"]
    assert contacts.columns_used()["company_id"] == "destination.associations.0.key"


def test_association_key_columns_join_the_row_hash_and_config_hash(make_project: ProjectFactory) -> None:
    from activate.plan.mapping import RowMapping

    root = make_project(HUBSPOT, {"syncs/c.yml": CONTACTS, "syncs/hubspot_companies.yml": COMPANIES})
    project = load_project(root, env={})
    assert RowMapping(project.sync("c").spec.destination).columns() == {"email", "company_id"}
    plain = make_project(HUBSPOT, {"syncs/c.yml": CONTACTS.split("      associations:")[0]})
    before = load_project(plain, env={}).sync("c").config_hash
    assert before != project.sync("c").config_hash


def test_unknown_sync_and_unsupported_destination_are_reported_at_their_positions(
    make_project: ProjectFactory,
) -> None:
    crm = """
        source: {connection: warehouse, table: people, primary_key: id}
        destination:
          connection: crm
          object: contacts
          match: email
          mapping: {email: email}
          associations: [{to: companies, sync: hubspot_companies, key: company_id}]
    """
    root = make_project(
        HUBSPOT,
        {
            "syncs/contacts.yml": CONTACTS.replace("sync: hubspot_companies", "sync: hubspot_companie"),
            "syncs/crm.yml": crm,
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_project(root, env={})
    text = [str(i) for i in caught.value.issues]
    assert text == [
        "syncs/contacts.yml:9:13: destination.associations[0].sync: unknown sync 'hubspot_companie' (known syncs: crm)",
        "syncs/crm.yml:7:17: destination.associations: testcrm destinations do not support associations "
        "(link records with a lookup in the mapping (Salesforce: Relationship.ExternalIdField) or remove it)",
        "syncs/crm.yml:7:40: destination.associations[0].sync: unknown sync 'hubspot_companies' "
        "(known syncs: contacts)",
    ]


def test_a_cycle_through_an_association_names_both_positions_and_validate_exits_2(
    make_project: ProjectFactory,
) -> None:
    companies = COMPANIES + "    after: [contacts]\n"
    root = make_project(HUBSPOT, {"syncs/contacts.yml": CONTACTS, "syncs/hubspot_companies.yml": companies})
    with pytest.raises(ConfigError) as caught:
        load_project(root, env={})
    assert [str(i) for i in caught.value.issues] == [
        "syncs/contacts.yml:9:13: destination.associations[0].sync: sync dependencies form a cycle: "
        "contacts -> hubspot_companies -> contacts, also linked at syncs/hubspot_companies.yml:7:9 "
        "(remove one of these links)",
        "syncs/hubspot_companies.yml:7:9: after[0]: sync dependencies form a cycle: "
        "contacts -> hubspot_companies -> contacts, also linked at syncs/contacts.yml:9:13 "
        "(remove one of these links)",
    ]
    result = CliRunner().invoke(app, ["validate", "--project-dir", str(root)])
    assert result.exit_code == 2
    assert "syncs/contacts.yml:9:13" in result.output
    assert "syncs/hubspot_companies.yml:7:9" in result.output


def test_associations_with_warehouse_state_are_refused_at_their_position(make_project: ProjectFactory) -> None:
    companies = COMPANIES + "    state: warehouse\n"
    root = make_project(HUBSPOT, {"syncs/contacts.yml": CONTACTS, "syncs/hubspot_companies.yml": companies})
    with pytest.raises(ConfigError) as caught:
        load_project(root, env={})
    assert [str(i) for i in caught.value.issues] == [
        "syncs/contacts.yml:9:13: destination.associations[0].sync: associations need both syncs' state in the "
        "project's state store; 'hubspot_companies' has state: warehouse (use state: local for both syncs)"
    ]
