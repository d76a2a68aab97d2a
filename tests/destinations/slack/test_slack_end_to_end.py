"""Issue 6's acceptance through the real engine: a DuckDB table synced to the Slack simulator, run after run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activate.errors import ConfigError
from activate.http.caller import forget_callers
from activate.testing.project import ScratchProject
from activate.testing.slack import SlackSimulator

pytestmark = pytest.mark.slow  # a handful of real engine runs (state store per batch of one): ~30 s

FAST = 50  # the simulator and the connection agree on 50 messages/s per channel, so runs take seconds


@pytest.fixture
def sim() -> Iterator[SlackSimulator]:
    forget_callers()
    with SlackSimulator(channels=("accounts",), posts_per_channel=FAST) as simulator:
        yield simulator
    forget_callers()


def project_for(
    tmp_path: Path, sim: SlackSimulator, text: str = "{{ row.first_name }} scored {{ row.score }}"
) -> ScratchProject:
    project = ScratchProject(tmp_path / "project")
    project.people(30)
    project.add_connection(
        "slack",
        {
            "type": "slack",
            "token": sim.token,
            "base_url": sim.base_url,
            "rate_limit": {"requests": FAST, "per_seconds": 1},
        },
    )
    project.add_sync("accounts_alerts", destination(text))
    return project


def destination(text: str) -> dict[str, Any]:
    return {"connection": "slack", "object": "#accounts", "mode": "mirror", "message": {"text": text}}


def write_methods(sim: SlackSimulator, since: int) -> list[str]:
    writes = ("chat.postMessage", "chat.update", "chat.delete")
    return [c.method for c in sim.calls()[since:] if c.method in writes]


def test_runs_post_then_update_then_delete_and_resync_never_reposts(tmp_path: Path, sim: SlackSimulator) -> None:
    project = project_for(tmp_path, sim)
    first = project.run("accounts_alerts")
    assert (first.status, first.rows_succeeded) == ("succeeded", 30)
    assert write_methods(sim, 0) == ["chat.postMessage"] * 30
    assert sorted(int(m.metadata["event_payload"]["row_key"]) for m in sim.messages("accounts")) == list(range(1, 31))

    before = len(sim.calls())
    second = project.run("accounts_alerts")
    assert (second.status, second.api_calls) == ("succeeded", 0)
    assert len(sim.calls()) == before

    project.execute("update people set score = score + 100 where id in (3, 7, 11, 19)")
    changed = project.run("accounts_alerts")
    assert (changed.status, changed.rows_changed) == ("succeeded", 4)
    assert write_methods(sim, before) == ["chat.update"] * 4

    before = len(sim.calls())
    project.execute("delete from people where id in (2, 5)")
    removed = project.run("accounts_alerts")
    assert (removed.status, removed.rows_removed) == ("succeeded", 2)
    assert write_methods(sim, before) == ["chat.delete"] * 2
    assert sim.workspace.message_count("accounts") == 28

    before = len(sim.calls())
    project.add_sync("accounts_alerts", destination("{{ row.first_name }} now scores {{ row.score }}"))
    resync = project.run("accounts_alerts")
    assert (resync.status, resync.rows_succeeded) == ("succeeded", 28)
    assert write_methods(sim, before) == ["chat.update"] * 28  # a full resync updates every message, posts none
    assert sim.workspace.message_count("accounts") == 28
    assert all(" now scores " in m.text for m in sim.messages("accounts"))
    assert sim.render_channel("accounts").startswith("#accounts (28 messages)\n")


def test_template_with_a_missing_column_fails_before_any_message(tmp_path: Path, sim: SlackSimulator) -> None:
    project = project_for(tmp_path, sim, text="{{ row.first_name }} owes {{ row.balance }}")
    with pytest.raises(ConfigError) as failure:
        project.run("accounts_alerts")
    assert str(failure.value).startswith(
        "syncs/accounts_alerts.yml:13:7: destination.message.text: column 'balance' is not in the query's result"
    )
    assert sim.calls() == []  # not even a lookup: the run stopped at validation
