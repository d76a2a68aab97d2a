"""Salesforce limits the first simulator missed, each in the simulator and in the writer.

- a request URI over 16,384 bytes answers 414 (URI and headers over it together: 431), so SOQL lookups over GET are
  split by their percent-encoded size (200 CJK External IDs made a 31,697-byte URI: the whole batch failed);
- sObject Collections upsert exists from API 46.0: an older `api_version` is a config error, and the simulator
  answers 404 for collections below it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote_plus

import pytest
import requests
from pydantic import ValidationError
from salesforce_support import WriterFactory, contact, data_calls, org_ids, write_all

from activate.destinations.base import Operation, RowStatus, WriteBatch
from activate.destinations.salesforce import SalesforceConnection
from activate.destinations.salesforce.rest import lookup_soql
from activate.testing.salesforce import SalesforceSimulator


def _cjk_id(i: int) -> str:
    return f"顧客番号{i:04d}東京都渋谷区神宮前"


def _session(sim: SalesforceSimulator) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sim.ca_bundle)
    session.headers["Authorization"] = f"Bearer {sim.issue_session()}"
    return session


def test_simulator_refuses_long_uris_414_and_long_uri_plus_headers_431(sim: SalesforceSimulator) -> None:
    http = _session(sim)
    soql = lookup_soql("Contact", "Activate_Id__c", [f"'{_cjk_id(i)}'" for i in range(200)])
    url = f"{sim.url}/services/data/v62.0/query/"
    too_long = http.get(url, params={"q": soql})
    assert too_long.status_code == 414
    assert len(too_long.request.path_url.encode()) > 16_384

    short = lookup_soql("Contact", "Activate_Id__c", [f"'{_cjk_id(i)}'" for i in range(90)])
    path = f"/services/data/v62.0/query/?q={quote_plus(short, safe='')}"
    assert len(path) < 16_384
    assert http.get(url, params={"q": short}).status_code == 200
    padded = http.get(url, params={"q": short}, headers={"X-Padding": "x" * (16_384 - len(path))})
    assert padded.status_code == 431


@pytest.mark.parametrize(("version", "status"), [("45.0", 404), ("46.0", 200)])
def test_simulator_has_collections_upsert_from_api_46(sim: SalesforceSimulator, version: str, status: int) -> None:
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Contact"}, "Activate_Id__c": "a", "LastName": "L"}],
    }
    answer = _session(sim).patch(
        f"{sim.url}/services/data/v{version}/composite/sobjects/Contact/Activate_Id__c", json=body
    )
    assert answer.status_code == status
    if status == 404:
        assert answer.json()[0]["errorCode"] == "NOT_FOUND"
        assert org_ids(sim) == {}


def test_lookups_of_200_cjk_external_ids_are_split_under_the_uri_limit(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    rows = [contact(i, Activate_Id__c=_cjk_id(i)) for i in range(200)]
    write_all(make_writer(), rows)
    sim.log.clear()

    updates = [contact(i, Operation.UPDATE, Activate_Id__c=_cjk_id(i), Title="VP") for i in range(200)]
    results = make_writer(mode="update").write(WriteBatch(Operation.UPDATE, updates))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    queries = data_calls(sim, "GET", "/query")
    assert len(queries) >= 2, "one GET would carry a 31,697-byte URI, which Salesforce refuses with 414"
    assert all(call.status == 200 for call in queries)
    ids = org_ids(sim)
    assert {r.key: r.destination_id for r in results} == {f"k{i}": ids[_cjk_id(i)] for i in range(200)}


def test_an_api_version_below_46_is_a_config_error(tmp_path: Path) -> None:
    settings = {
        "type": "salesforce",
        "instance_url": "https://acme.my.salesforce.com",
        "auth": {"method": "session", "session_id": "x"},
    }
    with pytest.raises(ValidationError, match=r"sObject Collections upsert needs 46\.0 or later"):
        SalesforceConnection.model_validate({**settings, "api_version": "45.0"})
    assert SalesforceConnection.model_validate({**settings, "api_version": "46.0"}).api_version == "46.0"
