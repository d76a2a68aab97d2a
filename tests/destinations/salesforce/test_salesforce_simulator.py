"""The Salesforce simulator answers simple-salesforce the way Salesforce does (shapes, errors, limits, lifecycle)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import _Bulk2Client
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from simple_salesforce.login import SalesforceLogin, token_login

from activate.testing.salesforce import (
    CONSUMER_KEY,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    SalesforceConformanceTarget,
    SalesforceSimulator,
)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(tmp_path / "sf") as simulator:
        yield simulator


def _http(sim: SalesforceSimulator) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    session.verify = str(sim.ca_bundle)
    return session


def _sf(sim: SalesforceSimulator) -> Salesforce:
    return Salesforce(instance_url=sim.url, session_id=sim.issue_session(), session=_http(sim), version="62.0")


def _assertion(sim: SalesforceSimulator, key: bytes, audience: str) -> str:
    claims = {"iss": CONSUMER_KEY, "sub": USERNAME, "aud": audience, "exp": int(time.time()) + 60}
    return jwt.encode(claims, key, algorithm="RS256")


def test_jwt_bearer_login_checks_signature_and_audience(sim: SalesforceSimulator) -> None:
    url = f"{sim.url}/services/oauth2/token"
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    key = sim.private_key_path.read_bytes()
    token, instance = token_login(
        url,
        {"grant_type": grant, "assertion": _assertion(sim, key, sim.url)},
        "login",
        CONSUMER_KEY,
        None,
        None,
        _http(sim),
    )
    assert token.startswith("00D")
    assert instance == f"127.0.0.1:{sim.server.port}"

    with pytest.raises(SalesforceAuthenticationFailed, match="audience"):
        token_login(
            url,
            {"grant_type": grant, "assertion": _assertion(sim, key, "https://evil.example")},
            "login",
            CONSUMER_KEY,
            None,
            None,
            _http(sim),
        )
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid_grant"):
        token_login(
            url,
            {"grant_type": grant, "assertion": _assertion(sim, other, sim.url)},
            "login",
            CONSUMER_KEY,
            None,
            None,
            _http(sim),
        )
    assert sim.identity.logins == ["jwt"]


def test_soap_password_login(sim: SalesforceSimulator) -> None:
    session_id, instance = SalesforceLogin(
        username=USERNAME, password=PASSWORD, security_token=SECURITY_TOKEN, session=_http(sim), scratch_url=sim.url
    )
    assert session_id.startswith("00D")
    assert instance == f"127.0.0.1:{sim.server.port}"
    with pytest.raises(SalesforceAuthenticationFailed) as refused:
        SalesforceLogin(
            username=USERNAME, password=PASSWORD, security_token="wrong", session=_http(sim), scratch_url=sim.url
        )
    assert refused.value.code == "INVALID_LOGIN"


def test_every_data_response_reports_usage_and_a_spent_allocation_refuses(sim: SalesforceSimulator) -> None:
    sf = _sf(sim)
    sim.limits.daily_requests = 3
    sf.query("SELECT Id FROM Contact")
    assert sf.api_usage["api-usage"].used == 1
    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Contact")
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM Contact")
    limit_error = {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    assert refused.value.content == [limit_error]
    assert sim.log.calls()[-1].status == 403


def test_expired_sessions_answer_invalid_session_id(sim: SalesforceSimulator) -> None:
    sf = _sf(sim)
    sim.identity.expire_after(1)
    sf.Contact.describe()
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.Contact.describe()
    assert expired.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_collections_limits_and_all_or_none(sim: SalesforceSimulator) -> None:
    sf = _sf(sim)
    too_many = {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, "LastName": "x"}] * 201}
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.restful("composite/sobjects", method="POST", data=json.dumps(too_many))
    assert refused.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"

    records = [
        {"attributes": {"type": "Contact"}, "Activate_Id__c": "a", "LastName": "A"},
        {"attributes": {"type": "Contact"}, "Activate_Id__c": "b"},
    ]
    body = json.dumps({"allOrNone": True, "records": records})
    results = sf.restful("composite/sobjects/Contact/Activate_Id__c", method="PATCH", data=body)
    codes = [r["errors"][0]["statusCode"] for r in results]
    assert codes == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"]
    assert sim.org.records("Contact") == []


def test_single_record_upsert_query_and_malformed_soql(sim: SalesforceSimulator) -> None:
    sf = _sf(sim)
    created = sf.Contact.upsert("Activate_Id__c/x-1", {"LastName": "One"})
    assert created == 201
    assert sf.Contact.upsert("Activate_Id__c/x-1", {"LastName": "Uno"}) == 200
    [record] = sf.query("SELECT Id, LastName FROM Contact WHERE Activate_Id__c = 'x-1'")["records"]
    assert record["LastName"] == "Uno"
    assert sf.Contact.get(record["Id"])["Activate_Id__c"] == "x-1"
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query("SELECT Nope FROM Contact")
    assert refused.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_bulk_job_lifecycle_and_result_files(sim: SalesforceSimulator) -> None:
    sf = _sf(sim)
    client = _Bulk2Client("Lead", sf.bulk2_url, dict(sf.headers), sf.session)
    job = client.create_job("upsert", external_id_field="Activate_Id__c")
    assert job["state"] == "Open"
    client.upload_job_data(job["id"], "Activate_Id__c,LastName,Company\nl-1,One,Acme\nl-2,,Acme\n")
    with pytest.raises(Exception, match="409|INVALIDJOBSTATE"):
        client.upload_job_data(job["id"], "Activate_Id__c,LastName,Company\nl-3,Three,Acme\n")
    assert client.close_job(job["id"])["state"] == "UploadComplete"
    states = [client.get_job(job["id"], False)["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    success = client.get_ingest_results(job["id"], "successfulResults").splitlines()
    failed = client.get_ingest_results(job["id"], "failedResults").splitlines()
    assert success[0] == '"sf__Id","sf__Created","Activate_Id__c","LastName","Company"'
    assert success[1].startswith('"00Q')
    assert success[1].endswith('","true","l-1","One","Acme"')
    error = "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    assert failed[1] == f'"","{error}","l-2","","Acme"'
    unprocessed = client.get_ingest_results(job["id"], "unprocessedrecords")
    assert unprocessed.strip() == '"Activate_Id__c","LastName","Company"'


def test_conformance_target_round_trip(tmp_path: Path) -> None:
    target = SalesforceConformanceTarget()
    target.start(tmp_path)
    try:
        connection = target.connection()
        assert connection["type"] == "salesforce"
        assert Path(connection["ca_bundle"]).exists()
        destination = target.destination("upsert")
        assert set(destination["mapping"].values()) >= {"id", "email", "first_name"}
        target.reject({"bad@example.com"})
        org = target.simulator.org
        assert org.upsert("Customer__c", "Activate_Id__c", {"Activate_Id__c": "1", "Email__c": "a@example.com"}).success
        refused = org.upsert("Customer__c", "Activate_Id__c", {"Activate_Id__c": "2", "Email__c": "bad@example.com"})
        assert refused.error is not None
        assert refused.error.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        assert target.records() == {"1": {"email": "a@example.com", "first_name": None}}
        assert target.write_calls() == 0
    finally:
        target.stop()


def test_serve_runs_standalone(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "from pathlib import Path; from activate.testing.salesforce import serve; "
        f"serve({port}, Path({str(tmp_path)!r}))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"Salesforce simulator on https://127.0.0.1:{port}")
        session = requests.Session()
        session.trust_env = False
        session.verify = str(tmp_path / "simulator-ca.pem")
        answer = session.post(f"https://127.0.0.1:{port}/services/oauth2/token", data={"grant_type": "nope"})
        assert answer.json()["error"] == "unsupported_grant_type"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
