"""Login flows, session expiry and the daily quota, through simple-salesforce over HTTPS to the simulator."""

from __future__ import annotations

import pytest
from salesforce_support import UPSERT_PATH, WriterFactory, contacts, data_calls, org_ids, write_all

from activate.destinations.base import Operation, RowStatus, WriteBatch
from activate.http.errors import AuthFailed, QuotaExhausted
from activate.testing.salesforce import SalesforceSimulator


@pytest.mark.parametrize(
    ("method", "grant"),
    [("jwt", "jwt"), ("client_credentials", "client_credentials"), ("password", "soap"), ("session", "manual")],
)
def test_every_auth_method_writes(
    sim: SalesforceSimulator, make_writer: WriterFactory, method: str, grant: str
) -> None:
    writer = make_writer(method=method)

    results = writer.write(WriteBatch(Operation.UPSERT, contacts(3)))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    assert sim.identity.logins == [grant]


def test_jwt_session_expiring_mid_write_logs_in_again_exactly_once(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer(method="jwt")
    sim.identity.expire_after(2)  # two requests get through, then every session dies

    results = write_all(writer, contacts(1000), threads=10)

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    assert sim.identity.logins == ["jwt", "jwt"]
    refused = [c for c in data_calls(sim, "PATCH", UPSERT_PATH) if c.status == 401]
    assert 1 <= len(refused) <= 10  # at most one refusal per concurrent batch, each retried once
    assert len(org_ids(sim)) == 1000


def test_an_expired_session_id_fails_the_run_clearly_without_claiming_unwritten_rows(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    writer = make_writer(method="session")
    rows = contacts(1000)
    sim.identity.expire_after(2)
    confirmed = writer.write(WriteBatch(Operation.UPSERT, rows[:200])) + writer.write(
        WriteBatch(Operation.UPSERT, rows[200:400])
    )

    with pytest.raises(AuthFailed) as failure:
        writer.write(WriteBatch(Operation.UPSERT, rows[400:600]))

    message = str(failure.value)
    assert "INVALID_SESSION_ID" in message
    assert "session_id" in message
    assert "jwt" in message
    assert len(confirmed) == 400
    ids = org_ids(sim)
    assert all(r.status == RowStatus.SUCCEEDED and ids[f"c-{r.key[1:]}"] == r.destination_id for r in confirmed)
    assert len(ids) == 400  # exactly the rows reported succeeded were written
    assert sim.identity.logins == ["manual"]  # the test's own session, never a login by the writer


def test_refused_credentials_are_reported_by_check(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    writer = make_writer(
        method="client_credentials",
        connection={"auth": {"method": "client_credentials", "consumer_key": "nope", "consumer_secret": "bad"}},
    )

    [problem] = writer.check(["LastName"])

    assert "client_credentials login" in problem
    assert "invalid_client" in problem
    assert "bad" not in problem


def test_budget_reached_mid_write_stops_with_the_results_so_far_and_the_usage_figures(
    sim: SalesforceSimulator, make_writer: WriterFactory
) -> None:
    sim.limits.daily_requests = 100
    sim.limits.used = 76  # other integrations already spent 76% of the org's allocation
    writer = make_writer()

    with pytest.raises(QuotaExhausted) as stop:
        writer.write(WriteBatch(Operation.UPSERT, contacts(1000)))

    # the upsert path spends requests 77..80 (4 calls of 200 rows); the 81st would pass the 80% budget
    message = str(stop.value)
    assert "80/100 daily API requests used (80%)" in message
    assert "200 rows of this batch left pending" in message
    results = stop.value.results
    assert len(results) == 800
    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    ids = org_ids(sim)
    assert {r.destination_id for r in results} == set(ids.values())
    assert len(data_calls(sim, "PATCH", UPSERT_PATH)) == 4
    assert sim.limits.used == 80


def test_request_limit_exceeded_stops_cleanly(sim: SalesforceSimulator, make_writer: WriterFactory) -> None:
    sim.limits.daily_requests = 1000
    writer = make_writer(connection={"rate_limit": {"daily_budget": "100%"}})
    first = writer.write(WriteBatch(Operation.UPSERT, contacts(10)))
    sim.limits.used = 1000  # another integration spent the rest of the day's allocation

    with pytest.raises(QuotaExhausted) as stop:
        writer.write(WriteBatch(Operation.UPSERT, contacts(10, start=10)))

    assert {r.status for r in first} == {RowStatus.SUCCEEDED}
    assert "REQUEST_LIMIT_EXCEEDED" in str(stop.value)
    assert stop.value.results == []
    assert [c.status for c in data_calls(sim, "PATCH", UPSERT_PATH)] == [200, 403]
    with pytest.raises(QuotaExhausted):  # the budget stays closed: no further request is sent today
        writer.write(WriteBatch(Operation.UPSERT, contacts(10, start=20)))
    assert len(data_calls(sim, "PATCH", UPSERT_PATH)) == 2
