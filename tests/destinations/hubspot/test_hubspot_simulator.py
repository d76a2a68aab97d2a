"""The simulator through the real hubspot-api-client: answers parse into the SDK's typed models (client-side
validation on), and limits, errors and OAuth behave as HubSpot documents them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm import contacts, objects, properties
from hubspot.crm.contacts.exceptions import ApiException

from activate.clock import FakeClock
from activate.testing.hubspot import HubSpotSimulator, PropertyDef


def sdk(sim: HubSpotSimulator, token: str | None = None) -> Any:
    return HubSpot(access_token=token or sim.token, host=sim.url, retry=False, client_side_validation=True)


def upsert_input(email: str, trace: str | None = None, **props: str) -> contacts.SimplePublicObjectBatchInputUpsert:
    return contacts.SimplePublicObjectBatchInputUpsert(
        id=email, id_property="email", object_write_trace_id=trace, properties={"email": email, **props}
    )


def upsert(client: Any, *inputs: contacts.SimplePublicObjectBatchInputUpsert) -> Any:
    batch = contacts.BatchInputSimplePublicObjectBatchInputUpsert(inputs=list(inputs))
    return client.crm.contacts.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=batch)


def refused(call: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    with pytest.raises(ApiException) as raised:
        call()
    return raised.value.status, json.loads(raised.value.body), dict(raised.value.headers)


def test_batch_upsert_answers_parse_as_the_sdk_models(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    created = upsert(client, upsert_input("ada@example.com", "k1", firstname="Ada"))
    assert isinstance(created, contacts.BatchResponseSimplePublicUpsertObject)
    assert created.status == "COMPLETE"
    [record] = created.results
    assert (record.new, record.object_write_trace_id, record.properties["firstname"]) == (True, "k1", "Ada")

    again = upsert(client, upsert_input("ADA@example.com", "k2", firstname="Augusta"))
    assert (again.results[0].id, again.results[0].new) == (record.id, False)
    assert sim.records("contacts") == [
        {
            "id": record.id,
            "email": "ada@example.com",
            "firstname": "Augusta",
        }
    ]


def test_per_record_errors_answer_207_with_context_and_codes(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    answer = upsert(client, upsert_input("ok@example.com", "good"), upsert_input("broken", "bad"))

    assert isinstance(answer, contacts.BatchResponseSimplePublicUpsertObjectWithErrors)
    assert answer.num_errors == 1
    [error] = answer.errors
    assert error.category == "VALIDATION_ERROR"
    assert error.context == {"ids": ["broken"], "objectWriteTraceId": ["bad"]}
    assert [(e.code, e.context) for e in error.errors] == [("INVALID_EMAIL", {"propertyName": ["email"]})]
    assert [r.object_write_trace_id for r in answer.results] == ["good"]


def test_whole_request_refusals(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    too_many = [upsert_input(f"p{i}@example.com") for i in range(101)]
    status, body, _ = refused(lambda: upsert(client, *too_many))
    assert (status, body["category"]) == (400, "VALIDATION_ERROR")
    assert "at most 100" in body["message"]

    status, body, _ = refused(lambda: upsert(client, upsert_input("a@example.com"), upsert_input("a@example.com")))
    assert status == 400
    assert "Duplicate IDs" in body["message"]

    by_name = contacts.SimplePublicObjectBatchInputUpsert(id="Ada", id_property="firstname", properties={})
    status, body, _ = refused(lambda: upsert(client, by_name))
    assert status == 400
    assert body["message"] == "Unable to perform update/upsert by non-unique 0-1 property firstname"

    create = objects.BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[objects.SimplePublicObjectBatchInputForCreate(associations=[], properties={"email": "x"})]
    )
    with pytest.raises(objects.ApiException) as raised:
        client.crm.objects.batch_api.create("widgets", create)
    assert raised.value.status == 400
    assert "Unable to infer object type from: widgets" in raised.value.body
    # A create input without objectWriteTraceId cannot be reported per record: the batch is refused as a whole.
    with pytest.raises(objects.ApiException) as raised:
        client.crm.objects.batch_api.create("contacts", create)
    assert raised.value.status == 400
    assert raised.value.body.startswith('{"status": "error", "message": "Property values were not valid')
    assert sim.records("contacts") == []


def test_create_conflicts_on_a_unique_value_and_read_search_archive(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    upsert(client, *(upsert_input(f"p{i}@example.com", firstname=f"P{i}") for i in range(25)))
    create = objects.BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            objects.SimplePublicObjectBatchInputForCreate(
                associations=[], object_write_trace_id="t1", properties={"email": "P3@example.com"}
            )
        ]
    )
    conflict = client.crm.objects.batch_api.create("0-1", create)
    assert conflict.errors[0].category == "CONFLICT"
    existing = sim.records("contacts")[3]["id"]
    assert conflict.errors[0].message == f"Contact already exists. Existing ID: {existing}"

    read = client.crm.contacts.batch_api.read(
        contacts.BatchReadInputSimplePublicObjectId(
            id_property="email",
            properties=["firstname"],
            properties_with_history=[],
            inputs=[contacts.SimplePublicObjectId(id="p1@example.com"), contacts.SimplePublicObjectId(id="gone@x.io")],
        )
    )
    assert [r.properties["firstname"] for r in read.results] == ["P1"]
    assert read.errors[0].category == "OBJECT_NOT_FOUND"
    assert read.errors[0].context == {"ids": ["gone@x.io"]}

    not_p0 = contacts.Filter(property_name="firstname", operator="NEQ", value="P0")
    search = contacts.PublicObjectSearchRequest(
        filter_groups=[contacts.FilterGroup(filters=[not_p0])],
        properties=["email"],
        limit=20,
    )
    page = client.crm.contacts.search_api.do_search(public_object_search_request=search)
    assert (page.total, len(page.results), page.paging.next.after) == (24, 20, "20")

    ids = [contacts.SimplePublicObjectId(id=r["id"]) for r in sim.records("contacts")[:5]]
    client.crm.contacts.batch_api.archive(contacts.BatchInputSimplePublicObjectId(inputs=ids))
    assert len(sim.records("contacts")) == 20


def test_properties_list_and_create(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    listed = {p.name: p for p in client.crm.properties.core_api.get_all("contacts").results}
    assert listed["email"].has_unique_value is True
    assert listed["hs_object_id"].modification_metadata.read_only_value is True
    client.crm.properties.core_api.create(
        "contacts",
        properties.PropertyCreate(
            name="external_id",
            label="External ID",
            type="string",
            field_type="text",
            group_name="contactinformation",
            has_unique_value=True,
        ),
    )
    upsert(client, contacts.SimplePublicObjectBatchInputUpsert(id="X-1", id_property="external_id", properties={}))
    assert sim.records("contacts")[0]["external_id"] == "X-1"


def test_ten_secondly_and_daily_limits_with_documented_bodies_and_headers(clock: FakeClock) -> None:
    with HubSpotSimulator(clock=clock, per_window=3, daily=5) as sim:
        client = sdk(sim)
        api = client.crm.properties.core_api
        remaining = []
        for _ in range(3):
            _, _, headers = api.get_all_with_http_info("contacts")
            remaining.append(headers["X-HubSpot-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        assert headers["X-HubSpot-RateLimit-Max"] == "3"
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "2"

        with pytest.raises(properties.ApiException) as raised:
            api.get_all("contacts")
        assert raised.value.status == 429
        assert '"policyName": "TEN_SECONDLY_ROLLING"' in raised.value.body
        assert '"errorType": "RATE_LIMIT"' in raised.value.body

        clock.advance(10)
        api.get_all("contacts")
        api.get_all("contacts")
        with pytest.raises(properties.ApiException) as raised:
            api.get_all("contacts")
        assert '"policyName": "DAILY"' in raised.value.body
        assert "daily limit" in raised.value.body

        clock.advance(24 * 3600)
        assert api.get_all("contacts").results


def test_oauth_refresh_and_expired_tokens(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    granted = client.oauth.tokens_api.create(
        grant_type="refresh_token",
        client_id=sim.oauth.client_id,
        client_secret=sim.oauth.client_secret,
        refresh_token=sim.oauth.refresh_token,
    )
    assert (granted.token_type, granted.expires_in) == ("bearer", 1800)
    oauth_client = sdk(sim, granted.access_token)
    assert oauth_client.crm.properties.core_api.get_all("contacts").results

    sim.expire_tokens()
    status, body, _ = refused(lambda: upsert(oauth_client, upsert_input("a@example.com")))
    assert (status, body["category"]) == (401, "EXPIRED_AUTHENTICATION")
    status, body, _ = refused(lambda: upsert(sdk(sim, "made-up"), upsert_input("a@example.com")))
    assert (status, body["category"]) == (401, "INVALID_AUTHENTICATION")

    from hubspot.oauth import ApiException as OAuthException

    with pytest.raises(OAuthException) as raised:
        client.oauth.tokens_api.create(
            grant_type="refresh_token", client_id=sim.oauth.client_id, client_secret="x", refresh_token="y"
        )
    assert raised.value.status == 400


def test_storm_answers_429_with_retry_after_then_recovers(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    sim.storm(2, retry_after=3)
    for _ in range(2):
        status, body, headers = refused(lambda: upsert(client, upsert_input("a@example.com")))
        assert (status, body["policyName"], headers["Retry-After"]) == (429, "TEN_SECONDLY_ROLLING", "3")
    upsert(client, upsert_input("a@example.com"))
    assert sim.write_calls == 1, "refused requests never reach the endpoint"


def test_serve_runs_standalone_on_a_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-c", f"from activate.testing.hubspot import serve; serve({port})"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert child.stdout is not None
        banner = child.stdout.readline().decode()
        assert f"http://127.0.0.1:{port}" in banner
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/crm/v3/properties/contacts",
            headers={"Authorization": "Bearer sim-hubspot-token"},
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        child.kill()
        child.wait(timeout=10)


def test_custom_objects_have_their_own_properties(sim: HubSpotSimulator) -> None:
    sim.define_object("2-777", "machines", [PropertyDef("serial", unique=True)])
    client = sdk(sim)
    listed = [p.name for p in client.crm.properties.core_api.get_all("2-777").results]
    assert "serial" in listed
    assert "email" not in listed
    with pytest.raises(ValueError, match="2-1234"):
        sim.define_object("machines", "machines", [])


def test_a_property_value_over_65536_characters_refuses_the_whole_request(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    long_ok = upsert_input("a@example.com", "k1", company="x" * 65_536)
    too_long = upsert_input("b@example.com", "k2", company="y" * 65_537)
    status, body, _ = refused(lambda: upsert(client, long_ok, too_long))
    assert (status, body["category"]) == (400, "VALIDATION_ERROR")
    assert body["message"].startswith("Property values were not valid")
    assert body["errors"][0]["code"] == "PROPERTY_VALUE_TOO_LONG"
    assert sim.records("contacts") == []  # traceable inputs, yet nothing applied: the request is refused whole
    upsert(client, long_ok)
    assert len(sim.records("contacts")[0]["company"]) == 65_536
