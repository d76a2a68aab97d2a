"""The connection model, `check()` against the simulator, the 429/4xx classification table, the plugin."""

from __future__ import annotations

import pytest
from hubspot_support import NewWriter
from pydantic import ValidationError

from activate.clock import FakeClock
from activate.destinations.hubspot import HubSpotConnection, plugin
from activate.destinations.hubspot.classify import BatchRefused, classify_hubspot
from activate.destinations.hubspot.results import render_value
from activate.destinations.registry import destination_plugin
from activate.http.errors import AuthExpired, QuotaExhausted, RateLimited, TerminalError, TransientError
from activate.testing.hubspot import HubSpotSimulator, PropertyDef

NOW = FakeClock().now()


def test_check_names_the_missing_property(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, stats = new_writer()
    assert writer.check(["email", "firstname"]) == []
    problems = writer.check(["email", "firstname", "favourite_colour", "hs_object_id"])
    assert problems == [
        "property 'favourite_colour' does not exist on HubSpot object 'contacts' "
        "(create it in HubSpot, or fix destination.mapping)",
        "property 'hs_object_id' of HubSpot object 'contacts' is read-only",
    ]
    assert [c.path for c in sim.answered.calls("GET")] == ["/crm/v3/properties/contacts"] * 2
    assert stats.api_calls == 2


def test_check_refuses_a_non_unique_match_property(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer(match="firstname")
    assert writer.check(["email"]) == [
        "match property 'firstname' of HubSpot object 'contacts' is not unique: HubSpot only upserts/updates by a "
        "property created with hasUniqueValue"
    ]
    sim.add_property("contacts", PropertyDef("external_id", unique=True))
    unique, _ = new_writer(match="external_id")
    assert unique.check(["external_id", "email"]) == []


def test_check_reports_a_refused_token_and_an_unknown_object(sim: HubSpotSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer(access_token="pat-na1-wrong")
    [problem] = writer.check(["email"])
    assert problem.startswith("HubSpot refused the credentials of connection 'hubspot':")
    assert "INVALID_AUTHENTICATION" in problem
    assert "pat-na1-wrong" not in problem

    unknown, _ = new_writer(object_type="widgets")
    [problem] = unknown.check(["email"])
    assert "Unable to infer object type from: widgets" in problem


def test_connection_needs_a_token_or_a_complete_oauth_app() -> None:
    token = HubSpotConnection.model_validate({"type": "hubspot", "access_token": "pat-secret"})
    assert "pat-secret" not in repr(token)
    assert token.limits().requests == 100
    assert token.limits().per_seconds == 10
    oauth = HubSpotConnection.model_validate(
        {"type": "hubspot", "client_id": "c", "client_secret": "s", "refresh_token": "r", "tier": "enterprise"}
    )
    assert oauth.can_refresh
    assert oauth.limits().requests == 190
    with pytest.raises(ValidationError, match="client_id, client_secret and refresh_token"):
        HubSpotConnection.model_validate({"type": "hubspot", "access_token": "t", "client_id": "c"})
    with pytest.raises(ValidationError, match="give access_token"):
        HubSpotConnection.model_validate({"type": "hubspot"})
    with pytest.raises(ValidationError, match="extra"):
        HubSpotConnection.model_validate({"type": "hubspot", "access_token": "t", "api_key": "old"})


def test_rate_limit_block_overrides_the_tier_default() -> None:
    connection = HubSpotConnection.model_validate(
        {"type": "hubspot", "access_token": "t", "tier": "professional", "rate_limit": {"max_concurrency": 2}}
    )
    limits = connection.limits()
    assert (limits.requests, limits.per_seconds, limits.max_concurrency) == (190, 10, 2)


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (429, '{"policyName": "DAILY", "message": "You have reached your daily limit."}', QuotaExhausted, "DAILY"),
        (429, '{"policyName": "TEN_SECONDLY_ROLLING"}', RateLimited, "TEN_SECONDLY_ROLLING"),
        (429, "", RateLimited, "RATE_LIMITED"),
        (401, '{"category": "EXPIRED_AUTHENTICATION"}', AuthExpired, "EXPIRED_AUTHENTICATION"),
        (423, '{"category": "LOCKED"}', TransientError, "LOCKED"),
        (502, "<html>bad gateway</html>", TransientError, "HTTP_502"),
        (
            400,
            '{"message": "Property values were not valid: []", "category": "VALIDATION_ERROR", '
            '"errors": [{"code": "INVALID_EMAIL"}]}',
            BatchRefused,
            "INVALID_EMAIL",
        ),
        (409, '{"message": "Contact already exists", "category": "CONFLICT"}', BatchRefused, "CONFLICT"),
        (400, '{"message": "Unable to infer object type from: x"}', TerminalError, "HTTP_400"),
        (403, '{"category": "MISSING_SCOPES"}', TerminalError, "MISSING_SCOPES"),
    ],
)
def test_classification_table(status: int, body: str, expected: type[Exception], code: str | None) -> None:
    error = classify_hubspot(status, {"Retry-After": "3"} if status == 429 else {}, body, now=NOW)
    assert type(error) is expected
    if code is not None:
        assert error.code == code
    if isinstance(error, RateLimited):
        assert error.retry_after == 3


def test_values_are_rendered_as_hubspot_strings() -> None:
    from datetime import date, datetime
    from decimal import Decimal

    assert [render_value(v) for v in (None, True, 3, 2.5, Decimal("10.50"), ["a", "b"])] == [
        "",
        "true",
        "3",
        "2.5",
        "10.50",
        "a;b",
    ]
    assert render_value(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"
    assert render_value(date(2026, 1, 2)) == "2026-01-02"


def test_the_plugin_is_registered_and_loads_no_sdk_until_a_writer_is_built() -> None:
    import subprocess
    import sys

    assert destination_plugin("hubspot") is plugin
    capabilities = plugin.capabilities()
    assert capabilities.modes == {"upsert", "update", "insert", "mirror"}
    assert (capabilities.batch_size, capabilities.requires_match, capabilities.idempotent_insert) == (100, True, False)
    probe = "import sys, activate.destinations.hubspot as h; h.plugin.capabilities(); print('hubspot' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False\n"
