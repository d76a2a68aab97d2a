"""Exact numbers on the wire: DECIMAL(38,10), HUGEINT and BIGINT reach every simulator digit for digit.

Each test runs the engine from a DuckDB warehouse and reads the RAW request body the simulator received (never the
parsed JSON, which would round a decimal to a float itself). Before the fix the decimal left as `1e+28` and the
row was recorded `succeeded`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from activate.clock import FakeClock
from activate.destinations.encoding import dumps_exact
from activate.http.caller import forget_callers
from activate.plan.mapping import RowMapping, parse_payload, wire_value
from activate.testing.hubspot import HubSpotSimulator
from activate.testing.hubspot.schema import PropertyDef
from activate.testing.project import ScratchProject
from activate.testing.salesforce import PASSWORD, SECURITY_TOKEN, USERNAME, SalesforceSimulator
from activate.testing.webhook_sim import WebhookSimulator

DECIMAL = "9999999999999999999999999999.9999999999"
HUGEINT = "170141183460469231731687303715884105727"
BIGINT = "9223372036854775807"
# an exact decimal that a float also holds: sent as before (the number 12.5), so nothing already right changes
PLAIN = "12.50"


def _warehouse(project: ScratchProject) -> None:
    project.execute(
        "create table amounts (id integer, email varchar, d decimal(38,10), h hugeint, b bigint, p decimal(10,2))",
        f"insert into amounts values (1, 'exact@example.com', {DECIMAL}, {HUGEINT}, {BIGINT}, {PLAIN})",
    )


def _body_text(raw: bytes) -> str:
    return re.sub(r"\s+", "", raw.decode())


def test_webhook_body_carries_every_digit_as_json_numbers(tmp_path: Path) -> None:
    with WebhookSimulator() as sim:
        project = ScratchProject(tmp_path / "p")
        _warehouse(project)
        project.add_connection("hooks", {"type": "webhook", "url": sim.url})
        mapping = {"d": "d", "h": "h", "b": "b", "p": "p", "templated": "{{ row.d * 2 }}"}
        project.add_sync(
            "amounts",
            {"connection": "hooks", "object": "amounts", "mode": "upsert", "mapping": mapping},
            query="select * from amounts",
        )
        summary = project.run("amounts")
        assert summary.status == "succeeded", summary.error
        [call] = sim.server.log.calls("POST")
    body = _body_text(call.body)
    assert f'"d":{DECIMAL},' in body
    assert f'"h":{HUGEINT},' in body
    assert f'"b":{BIGINT},' in body
    assert '"p":12.5,' in body
    assert '"templated":19999999999999999999999999999.9999999998' in body  # template arithmetic keeps 38 digits too
    assert "e+" not in body.lower()


def test_hubspot_body_carries_every_digit_as_property_strings(tmp_path: Path) -> None:
    forget_callers()
    with HubSpotSimulator(clock=FakeClock()) as sim:
        for name in ("lifetime_value", "big_id", "counter"):
            sim.add_property("contacts", PropertyDef(name, "number", "number"))
        project = ScratchProject(tmp_path / "p")
        _warehouse(project)
        project.add_connection("hubspot", {"type": "hubspot", "access_token": sim.token, "base_url": sim.url})
        mapping = {"email": "email", "lifetime_value": "d", "big_id": "h", "counter": "b"}
        project.add_sync(
            "amounts",
            {"connection": "hubspot", "object": "contacts", "mode": "upsert", "match": "email", "mapping": mapping},
            query="select * from amounts",
        )
        summary = project.run("amounts", clock=FakeClock())
        assert summary.status == "succeeded", summary.error
        [call] = sim.log.calls("POST", "/batch/upsert")
    body = _body_text(call.body)
    assert f'"lifetime_value":"{DECIMAL}"' in body
    assert f'"big_id":"{HUGEINT}"' in body
    assert f'"counter":"{BIGINT}"' in body
    forget_callers()


def test_salesforce_body_carries_every_digit(tmp_path: Path) -> None:
    forget_callers()
    with SalesforceSimulator(tmp_path / "sf") as sim:
        project = ScratchProject(tmp_path / "p")
        _warehouse(project)
        auth = {"method": "password", "username": USERNAME, "password": PASSWORD, "security_token": SECURITY_TOKEN}
        project.add_connection(
            "sf",
            {
                "type": "salesforce",
                "instance_url": sim.url,
                "login_url": sim.url,
                "ca_bundle": str(sim.ca_bundle),
                "auth": auth,
            },
        )
        mapping = {"Activate_Id__c": "id", "Score__c": "d", "First_Name__c": "h", "Last_Name__c": "b"}
        project.add_sync(
            "amounts",
            {"connection": "sf", "object": "Customer__c", "match": "Activate_Id__c", "mapping": mapping},
            query="select * from amounts",
        )
        summary = project.run("amounts", clock=FakeClock())
        assert summary.status == "succeeded", summary.error
        [call] = sim.log.calls("PATCH", "/composite/sobjects/Customer__c/Activate_Id__c")
    body = _body_text(call.body)
    assert f'"Score__c":{DECIMAL}' in body
    assert f'"First_Name__c":{HUGEINT}' in body
    assert f'"Last_Name__c":{BIGINT}' in body
    forget_callers()


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("0.1", 0.1),
        ("12.50", 12.5),
        ("1e+300", 1e300),
        ("1234567890123456789.50", Decimal("1234567890123456789.50")),
        ("100000000000000000000000000000.00", 10**29),
        (DECIMAL, Decimal(DECIMAL)),
        ("0.12345678901234567890123456789", Decimal("0.12345678901234567890123456789")),
    ],
)
def test_a_decimal_becomes_a_float_only_when_the_float_is_the_same_number(text: str, wire: object) -> None:
    value = wire_value(parse_payload('{"v": ' + text + "}")["v"])
    assert value == wire
    assert type(value) is type(wire)


def test_templates_that_render_number_text_keep_every_digit() -> None:
    from activate.config.models import DestinationSpec

    spec = DestinationSpec(
        connection="hooks",
        object="o",
        mode="upsert",
        mapping={"as_text": "{{ row.d | string }}", "scaled": "{{ (row.d * 10) | round(2) }}"},
    )
    fields = RowMapping(spec).render(parse_payload('{"d": ' + DECIMAL + "}"))
    assert dumps_exact(fields) == '{"as_text":' + DECIMAL + ',"scaled":100000000000000000000000000000}'
