"""`check()` against the simulator's describe, and the connection model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from salesforce_support import WriterFactory

from activate.destinations.registry import destination_plugin
from activate.destinations.salesforce import SalesforceConnection, plugin
from activate.destinations.salesforce.config import DEFAULT_LIMITS
from activate.testing.salesforce import SalesforceSimulator
from activate.testing.salesforce.schema import FieldSchema


def test_check_passes_for_a_writable_mapping(make_writer: WriterFactory) -> None:
    assert make_writer().check(["Activate_Id__c", "LastName", "Email", "FirstName"]) == []


def test_check_names_each_offending_field(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    problems = make_writer().check(["Activate_Id__c", "Emial", "CreatedDate", "FirstName"])

    assert problems == [
        "Contact has no field 'Emial' (did you mean 'Email'?)",
        "field 'CreatedDate' on Contact is not createable (read-only, formula, or no edit access)",
        "Contact requires LastName, which the mapping does not set: every new record would be rejected with "
        "REQUIRED_FIELD_MISSING",
    ]
    assert [c.path for c in sim.log.calls()][-1] == "/services/data/v62.0/sobjects/Contact/describe"


def test_a_field_written_only_on_create_need_not_be_updateable(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    sim.org.objects["Contact"].fields["Origin__c"] = FieldSchema("Origin__c", updateable=False)
    fields = ["Activate_Id__c", "LastName", "Origin__c"]
    refused = "field 'Origin__c' on Contact is not updateable (read-only, formula, or no edit access)"

    assert make_writer(mapping={"Origin__c": "origin"}).check(fields) == [refused]
    assert make_writer(mapping={"Origin__c": {"column": "origin", "on": "create"}}).check(fields) == []
    assert make_writer(mode="insert", mapping={"Origin__c": "origin"}).check(fields) == []


def test_check_refuses_a_match_field_that_is_not_an_external_id(make_writer: WriterFactory) -> None:
    writer = make_writer(mode="update")
    writer.match = "Email"

    assert writer.check(["Email"]) == [
        "match: field 'Email' on Contact is not an External ID field; mark it External ID (and Unique) in "
        "Setup > Object Manager"
    ]


def test_check_reports_an_unknown_sobject(make_writer: WriterFactory) -> None:
    assert make_writer(sobject="Invoice__c").check(["Name"]) == [
        "Salesforce has no sObject 'Invoice__c' (or the integration user cannot see it)"
    ]


def test_custom_objects_work_like_standard_ones(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    from activate.destinations.base import Operation, RowOp, RowStatus, WriteBatch

    writer = make_writer(sobject="Customer__c")
    assert writer.check(["Activate_Id__c", "Email__c", "Score__c"]) == []
    row = RowOp("1", Operation.UPSERT, {"Activate_Id__c": 1, "Email__c": "a@b.co", "Score__c": 4.5}, match_value=1)

    [result] = writer.write(WriteBatch(Operation.UPSERT, [row]))

    assert result.status == RowStatus.SUCCEEDED
    [record] = sim.org.records("Customer__c")
    assert (record["Activate_Id__c"], record["Score__c"], record["Id"][:3]) == ("1", 4.5, "a01")


def _connection(**overrides: object) -> dict[str, object]:
    return {
        "type": "salesforce",
        "instance_url": "https://acme.my.salesforce.com/",
        "auth": {"method": "password", "username": "u", "password": "hunter2", "security_token": "T0KEN-xyz"},
        **overrides,
    }


def test_connection_model_defaults_and_secret_masking() -> None:
    connection = SalesforceConnection.model_validate(_connection())

    assert connection.instance_url == "https://acme.my.salesforce.com"
    assert connection.api_version == "62.0"
    assert connection.limits() == DEFAULT_LIMITS
    assert DEFAULT_LIMITS.max_concurrency == 10
    assert str(DEFAULT_LIMITS.daily_budget) == "80%"
    assert "hunter2" not in repr(connection)
    assert "T0KEN-xyz" not in str(connection.model_dump())
    assert connection.token_url() == "https://login.salesforce.com/services/oauth2/token"


def test_connection_model_validates_what_users_get_wrong() -> None:
    with pytest.raises(ValidationError, match="https"):
        SalesforceConnection.model_validate(_connection(instance_url="http://acme.my.salesforce.com"))
    with pytest.raises(ValidationError, match="method"):
        SalesforceConnection.model_validate(_connection(auth={"method": "oauth", "token": "x"}))
    with pytest.raises(ValidationError, match="62.0"):
        SalesforceConnection.model_validate(_connection(api_version="sixty-two"))
    with pytest.raises(ValidationError, match="extra"):
        SalesforceConnection.model_validate(_connection(instance="na1"))
    assert SalesforceConnection.model_validate(_connection(api_version="v59.0")).api_version == "59.0"


def test_client_credentials_use_my_domain_unless_a_login_url_is_given() -> None:
    auth = {"method": "client_credentials", "consumer_key": "k", "consumer_secret": "s"}
    assert SalesforceConnection.model_validate(_connection(auth=auth)).token_url() == (
        "https://acme.my.salesforce.com/services/oauth2/token"
    )
    sandbox = SalesforceConnection.model_validate(_connection(auth=auth, login_url="https://test.salesforce.com"))
    assert sandbox.token_url() == "https://test.salesforce.com/services/oauth2/token"


def test_rate_limit_override_and_registry() -> None:
    connection = SalesforceConnection.model_validate(
        _connection(rate_limit={"max_concurrency": 4, "daily_budget": "50%"})
    )
    assert connection.limits().max_concurrency == 4
    assert str(connection.limits().daily_budget) == "50%"
    assert destination_plugin("salesforce") is plugin
    capabilities = plugin.capabilities()
    assert capabilities.modes == frozenset({"upsert", "update", "insert", "mirror"})
    assert (capabilities.batch_size, capabilities.requires_match, capabilities.idempotent_insert) == (200, True, False)
