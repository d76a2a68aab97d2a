"""`alerts:` through the real engine, the real Slack SDK / webhook writer, and the simulators."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from activate.alerts import outcomes, send_alerts
from activate.clock import FakeClock
from activate.engine import RunSummary
from activate.errors import ConfigError
from activate.http.caller import forget_callers
from activate.scheduler import Scheduler
from activate.testing.project import ScratchProject
from activate.testing.slack import SlackSimulator
from activate.testing.webhook_sim import WebhookSimulator

HOOK = {"connection": "hooks", "object": "people", "mode": "mirror", "mapping": {"email": "{{ row.email }}"}}


@pytest.fixture
def hooks() -> Iterator[WebhookSimulator]:
    forget_callers()
    with WebhookSimulator() as simulator:
        yield simulator
    forget_callers()


@pytest.fixture
def slack() -> Iterator[SlackSimulator]:
    with SlackSimulator(channels=("ops",)) as simulator:
        yield simulator


def with_alerts(project: ScratchProject, alerts: list[dict[str, Any]]) -> None:
    """ScratchProject writes no `alerts:`; add them to the activate.yml it wrote."""
    path = project.root / "activate.yml"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "alerts": alerts}, indent=2))


def webhook_project(tmp_path: Path, hooks: WebhookSimulator, alerts: list[dict[str, Any]]) -> ScratchProject:
    project = ScratchProject(tmp_path / "project")
    project.people(5)
    project.add_connection("hooks", {"type": "webhook", "url": hooks.url})
    project.add_sync("people_hook", HOOK)
    with_alerts(project, alerts)
    return project


def test_guardrail_trip_posts_one_webhook_alert_with_the_run(tmp_path: Path, hooks: WebhookSimulator) -> None:
    project = webhook_project(tmp_path, hooks, [{"connection": "hooks"}])
    first = project.run("people_hook")
    assert first.status == "succeeded"
    assert send_alerts(project.load(), first) == []
    assert hooks.rows("alerts") == {}

    project.execute("delete from people")
    tripped = project.run("people_hook")
    assert tripped.status == "failed"
    assert outcomes(tripped) == {"failed", "guardrail"}
    before = hooks.requests
    assert len(send_alerts(project.load(), tripped)) == 1
    assert hooks.requests == before + 1
    alerts = hooks.rows("alerts")
    assert list(alerts) == [f"alert:{tripped.run_id}"]
    [record] = alerts[f"alert:{tripped.run_id}"]
    assert (record["sync"], record["status"], record["run_id"]) == ("people_hook", "failed", tripped.run_id)
    assert record["error"].startswith("allow_empty_source:")
    assert record["counts"]["rows_read"] == 0
    assert "sync people_hook failed" in record["text"]
    assert tripped.run_id in record["text"]


def test_partial_run_alerts_a_slack_channel_only_when_asked(
    tmp_path: Path, hooks: WebhookSimulator, slack: SlackSimulator
) -> None:
    project = webhook_project(tmp_path, hooks, [])
    project.add_connection("slack", {"type": "slack", "token": slack.token, "base_url": slack.base_url})
    with_alerts(project, [{"connection": "slack", "channel": "#ops", "on": ["partial"]}, {"connection": "hooks"}])
    hooks.reject_keys = {"3"}
    summary = project.run("people_hook")
    assert (summary.status, summary.rows_rejected) == ("partial", 1)

    delivered = send_alerts(project.load(), summary)
    assert [a.connection for a in delivered] == ["slack"]  # the webhook alert's default `on` skips partial runs
    assert hooks.rows("alerts") == {}
    assert [c.method for c in slack.calls("chat.postMessage")] == ["chat.postMessage"]
    [message] = slack.messages("ops")
    assert message.text.startswith("activate: sync people_hook partial\nerror: 0 rows failed and 1 were rejected")
    assert f"run {summary.run_id}" in message.text
    assert "4 succeeded, 0 failed, 1 rejected" in message.text


def test_alert_text_is_masked(tmp_path: Path, hooks: WebhookSimulator, slack: SlackSimulator) -> None:
    project = webhook_project(tmp_path, hooks, [])
    project.add_connection("slack", {"type": "slack", "token": slack.token, "base_url": slack.base_url})
    with_alerts(project, [{"connection": "slack", "channel": "ops"}])
    leaked = RunSummary("20260101T000000-abcd1234", "people_hook", status="failed", error=f"bad auth {slack.token}")
    assert len(send_alerts(project.load(), leaked)) == 1
    [message] = slack.messages("ops")
    assert slack.token not in message.text
    assert "bad auth ***" in message.text


def test_an_alert_that_cannot_be_sent_is_logged_and_never_raises(
    tmp_path: Path, hooks: WebhookSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    project = webhook_project(tmp_path, hooks, [{"connection": "hooks", "on": ["failed"]}])
    failed = RunSummary("20260101T000000-abcd1234", "people_hook", status="failed", error="boom")
    hooks.refuse_rows = {f"alert:{failed.run_id}"}  # the endpoint answers 422 for the alert's batch
    with caplog.at_level(logging.WARNING, logger="activate.alerts"):
        assert send_alerts(project.load(), failed) == []
    [warning] = [r for r in caplog.records if r.name == "activate.alerts"]
    assert "alert through 'hooks' for run 20260101T000000-abcd1234 not sent" in warning.getMessage()
    assert hooks.rows("alerts") == {}


def test_unknown_or_wrong_alert_connection_is_a_positioned_config_issue(
    tmp_path: Path, hooks: WebhookSimulator
) -> None:
    project = webhook_project(tmp_path, hooks, [{"connection": "hoks"}, {"connection": "warehouse"}])
    with pytest.raises(ConfigError) as caught:
        project.load()
    text = str(caught.value)
    assert "activate.yml" in text
    assert "alerts[0].connection" in text
    assert "unknown connection 'hoks'" in text
    assert "alerts[1].connection" in text
    assert "connection 'warehouse' is not a slack or webhook connection" in text


def test_a_slack_alert_needs_a_channel(tmp_path: Path, hooks: WebhookSimulator, slack: SlackSimulator) -> None:
    project = webhook_project(tmp_path, hooks, [])
    project.add_connection("slack", {"type": "slack", "token": slack.token, "base_url": slack.base_url})
    with_alerts(project, [{"connection": "slack"}])
    with pytest.raises(ConfigError, match=r"alerts\[0\]\.connection.*needs channel:"):
        project.load()


def test_alert_on_values_are_validated(tmp_path: Path, hooks: WebhookSimulator) -> None:
    project = webhook_project(tmp_path, hooks, [{"connection": "hooks", "on": ["exploded"]}])
    with pytest.raises(ConfigError, match=r"alerts\[0\]\.on"):
        project.load()


def test_scheduler_alerts_after_a_scheduled_run_that_trips_a_guardrail(tmp_path: Path, hooks: WebhookSimulator) -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    project = ScratchProject(tmp_path / "project")
    project.people(5)
    project.add_connection("hooks", {"type": "webhook", "url": hooks.url})
    project.add_sync("people_hook", HOOK, schedule="*/5 * * * *")
    with_alerts(project, [{"connection": "hooks"}])
    scheduler = Scheduler(project.load(), clock)
    try:
        clock.advance(300)
        assert scheduler.tick() == ["people_hook"]
        assert scheduler.wait_idle(timeout=30)
        assert hooks.rows("alerts") == {}, "a succeeded run sends nothing"
        project.execute("delete from people")
        clock.advance(300)
        assert scheduler.tick() == ["people_hook"]
        assert scheduler.wait_idle(timeout=30)
    finally:
        scheduler.shutdown()
    tripped = scheduler.history[-1].summary
    assert tripped is not None
    assert tripped.status == "failed"
    [record] = hooks.rows("alerts")[f"alert:{tripped.run_id}"]
    assert (record["status"], record["run_id"]) == ("failed", tripped.run_id)
