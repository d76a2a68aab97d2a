"""The Slack writer through the real slack-sdk over real HTTP to the simulator, time driven by one FakeClock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from activate.clock import FakeClock
from activate.destinations.base import Operation, RowOp, RowResult, RowStatus, RunStats, WriteBatch
from activate.destinations.slack.writer import SlackWriter
from activate.testing.slack import MAX_TEXT_CHARS, SlackSimulator

SYNC = "alerts_sync"
NewWriter = Callable[..., tuple[SlackWriter, RunStats]]


def row(key: str, text: str | None = None, op: Operation = Operation.UPSERT, **fields: Any) -> RowOp:
    destination_id = fields.pop("destination_id", None)
    return RowOp(key, op, {"text": text if text is not None else f"row {key}", **fields}, destination_id)


def write_one(writer: SlackWriter, op: RowOp) -> RowResult:
    [result] = writer.write(WriteBatch(op.operation, [op]))
    return result


def write_all(writer: SlackWriter, ops: list[RowOp]) -> dict[str, RowResult]:
    return {op.key: write_one(writer, op) for op in ops}


def methods(sim: SlackSimulator, since: int = 0) -> list[str]:
    return [call.method for call in sim.calls()[since:]]


def ts_of(result: RowResult) -> str:
    assert result.destination_id is not None
    return result.destination_id.split(":")[1]


def test_30_posts_then_4_updates_and_2_deletes(sim: SlackSimulator, new_writer: NewWriter) -> None:
    general = sim.workspace.channel("general").id
    writer, _ = new_writer(mapping={"id": "id", "email": "email"})
    posted = write_all(writer, [row(str(i), id=i, email=f"p{i}@example.com") for i in range(30)])

    assert {r.status for r in posted.values()} == {RowStatus.SUCCEEDED}
    assert methods(sim) == ["conversations.list"] + ["chat.postMessage"] * 30
    assert sim.calls("chat.postMessage")[7].args == {
        "channel": general,
        "text": "row 7",
        "metadata": {
            "event_type": "activate_row",
            "event_payload": {"sync": SYNC, "row_key": "7", "fields": {"id": 7, "email": "p7@example.com"}},
        },
    }
    messages = sim.messages("general")
    assert [(m.text, m.metadata) for m in messages] == [
        (
            f"row {i}",
            {
                "event_type": "activate_row",
                "event_payload": {"sync": SYNC, "row_key": str(i), "fields": {"id": i, "email": f"p{i}@example.com"}},
            },
        )
        for i in range(30)
    ]
    assert [posted[str(i)].destination_id for i in range(30)] == [f"{general}:{m.ts}" for m in messages]

    before = len(sim.calls())
    next_run, _ = new_writer(mapping={"id": "id", "email": "email"})
    changed = ("1", "5", "9", "13")
    updated = write_all(next_run, [row(k, f"changed {k}", destination_id=posted[k].destination_id) for k in changed])
    removed = write_all(next_run, [RowOp(k, Operation.DELETE, None, posted[k].destination_id) for k in ("20", "21")])

    assert methods(sim, before) == ["chat.update"] * 4 + ["chat.delete"] * 2
    assert {r.status for r in [*updated.values(), *removed.values()]} == {RowStatus.SUCCEEDED}
    assert [updated[k].destination_id for k in changed] == [posted[k].destination_id for k in changed]
    assert [(c.args["ts"], c.args["text"]) for c in sim.calls("chat.update")] == [
        (ts_of(posted[k]), f"changed {k}") for k in changed
    ]
    assert [c.args["ts"] for c in sim.calls("chat.delete")] == [ts_of(posted["20"]), ts_of(posted["21"])]
    texts = [m.text for m in sim.messages("general")]
    assert len(texts) == 28
    assert [t for t in texts if t.startswith("changed")] == [f"changed {k}" for k in changed]
    assert "row 20" not in texts
    assert "row 21" not in texts


def test_crash_after_post_is_reconciled_without_duplicate(sim: SlackSimulator, new_writer: NewWriter) -> None:
    crashed, _ = new_writer()
    lost = write_one(crashed, row("42", "Acme is at churn risk"))  # the engine died before recording this
    assert lost.status is RowStatus.SUCCEEDED

    next_run, _ = new_writer()
    before = len(sim.calls())
    found = next_run.reconcile([row("42", "Acme is at churn risk"), row("43", "never posted")])

    assert found == {"42": lost.destination_id}
    assert methods(sim, before) == ["conversations.list", "conversations.history"]
    assert sim.calls("conversations.history")[0].args["include_all_metadata"] == "1"
    # The engine records the reconciled id; the row's next change is an update of that one message.
    write_one(next_run, row("42", "Acme recovered", destination_id=found["42"]))
    assert [m.text for m in sim.messages("general")] == ["Acme recovered"]
    assert len(sim.calls("chat.postMessage")) == 1


def test_lost_answer_to_a_post_is_not_resent_and_reconcile_finds_it(sim: SlackSimulator, new_writer: NewWriter) -> None:
    sim.lose_response_next("chat.postMessage")
    writer, stats = new_writer()
    failed = write_one(writer, row("7", "posted, answer lost"))

    assert (failed.status, failed.error_code) == (RowStatus.FAILED, "CONNECTION_ERROR")
    assert len(sim.calls("chat.postMessage")) == 1  # not retried blindly: it may have been posted
    assert stats.api_calls == 2  # conversations.list + one post

    next_run, _ = new_writer()
    found = next_run.reconcile([row("7", "posted, answer lost")])
    assert found == {"7": f"{sim.workspace.channel('general').id}:{sim.messages('general')[0].ts}"}
    assert sim.workspace.message_count("general") == 1


def test_reconcile_ignores_other_syncs_and_pages_through_history(
    sim: SlackSimulator, new_writer: NewWriter, clock: FakeClock
) -> None:
    other, _ = new_writer(sync_name="another_sync")
    ours, _ = new_writer()
    mine = write_one(ours, row("1"))
    write_all(other, [row(str(i)) for i in range(1, 251)])  # newer messages with the same row keys

    found, _ = new_writer()
    assert found.reconcile([row("1")]) == {"1": mine.destination_id}
    assert len(sim.calls("conversations.history")) == 2  # 200 per page, ours is the 251st newest


def test_120_rows_to_one_channel_are_paced_not_failed(
    sim: SlackSimulator, new_writer: NewWriter, clock: FakeClock
) -> None:
    writer, stats = new_writer()
    started = clock.monotonic()
    results = write_all(writer, [row(str(i)) for i in range(120)])

    assert {r.status for r in results.values()} == {RowStatus.SUCCEEDED}
    assert sim.workspace.message_count("general") == 120
    assert sim.calls("chat.postMessage", ok=False) == []  # paced by our limiter: Slack never had to say 429
    assert stats.retries == 0
    assert stats.throttled_seconds == pytest.approx(119, abs=1)
    assert clock.monotonic() - started == pytest.approx(119, abs=1)


def test_a_slack_429_is_waited_out(sim: SlackSimulator, new_writer: NewWriter, clock: FakeClock) -> None:
    writer, stats = new_writer()
    write_one(writer, row("1"))
    clock.advance(1)
    sim.ratelimited_storm(3, retry_after=7)
    clock.slept.clear()
    result = write_one(writer, row("2"))

    assert result.status is RowStatus.SUCCEEDED
    posts = sim.calls("chat.postMessage")
    assert [(c.status, c.error) for c in posts] == [(200, None)] + [(429, "ratelimited")] * 3 + [(200, None)]
    assert [b.at - a.at for a, b in zip(posts[1:], posts[2:], strict=False)] == [7, 7, 7]  # Retry-After honoured
    assert clock.slept == [7, 7, 7]
    assert (stats.throttled_seconds, stats.retries) == (21, 3)
    assert sim.workspace.message_count("general") == 2


def test_parallel_channels_each_paced(sim: SlackSimulator, new_writer: NewWriter) -> None:
    from concurrent.futures import ThreadPoolExecutor

    writer, _ = new_writer()
    ops = [row(f"{channel}-{i}", channel=channel) for channel in ("general", "alerts", "sales") for i in range(5)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda op: write_one(writer, op), ops))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    assert [sim.workspace.message_count(c) for c in ("general", "alerts", "sales")] == [5, 5, 5]
    assert len(sim.calls("conversations.list")) == 1  # names resolved once per run
    assert len(sim.calls("chat.postMessage")) == 15
    assert sim.calls(ok=False) == []


def test_deleted_message_is_reposted_on_update(sim: SlackSimulator, new_writer: NewWriter, clock: FakeClock) -> None:
    writer, _ = new_writer()
    first = write_one(writer, row("1", "v1"))
    sim.workspace.delete("general", ts_of(first))  # a user deleted it in Slack
    clock.advance(1)

    again = write_one(writer, row("1", "v2", destination_id=first.destination_id))

    assert again.status is RowStatus.SUCCEEDED
    assert again.destination_id != first.destination_id
    assert methods(sim)[-2:] == ["chat.update", "chat.postMessage"]
    assert sim.calls("chat.update")[0].error == "message_not_found"
    assert [(m.text, f"{sim.workspace.channel('general').id}:{m.ts}") for m in sim.messages("general")] == [
        ("v2", again.destination_id)
    ]


def test_limits_checked_before_sending(sim: SlackSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    too_long = write_one(writer, row("1", "x" * (MAX_TEXT_CHARS + 1)))
    too_many = write_one(writer, row("2", "x", blocks=[{"type": "divider"}] * 51))
    not_blocks = write_one(writer, row("3", "x", blocks=["not a block"]))
    empty = write_one(writer, row("4", "  "))

    assert [(r.status, r.error_code) for r in (too_long, too_many, not_blocks, empty)] == [
        (RowStatus.REJECTED, "msg_too_long"),
        (RowStatus.REJECTED, "invalid_blocks"),
        (RowStatus.REJECTED, "invalid_blocks_format"),
        (RowStatus.REJECTED, "no_text"),
    ]
    assert "40,000" in (too_long.error_message or "")
    assert sim.calls() == []


def test_slack_refusals_reject_the_row(sim: SlackSimulator, new_writer: NewWriter, clock: FakeClock) -> None:
    sim.workspace.add_channel("secret", is_member=False)
    sim.refuse_content("bad@example.com")
    writer, _ = new_writer()
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "bad@example.com"}}
    results = [
        write_one(writer, row("1", channel="#no-such-channel")),
        write_one(writer, row("2", channel="secret")),
        write_one(writer, row("3", "hi", blocks=[section])),
        write_one(writer, row("4", channel="C99999999")),
    ]

    assert [(r.status, r.error_code) for r in results] == [
        (RowStatus.REJECTED, "channel_not_found"),
        (RowStatus.REJECTED, "not_in_channel"),
        (RowStatus.REJECTED, "invalid_blocks"),
        (RowStatus.REJECTED, "channel_not_found"),
    ]
    assert "content refused" in (results[2].error_message or "")
    assert sim.messages("general") == []


def test_auth_and_scope_failures_fail_the_run(sim: SlackSimulator, new_writer: NewWriter) -> None:
    from activate.destinations.slack.errors import SlackRunError
    from activate.http.errors import AuthFailed

    writer, _ = new_writer()
    write_one(writer, row("1"))
    sim.fail_next("chat.update", "missing_scope")
    with pytest.raises(SlackRunError, match="missing_scope"):
        write_one(writer, row("1", destination_id=f"{sim.workspace.channel('general').id}:1.000001"))
    sim.revoke_token()
    with pytest.raises(AuthFailed) as failure:
        write_one(writer, row("2"))
    assert failure.value.code == "token_revoked"
    assert len(sim.calls("chat.postMessage")) == 2  # the revoked call was made once, not retried


def test_server_errors_retry_updates_but_never_a_post(
    sim: SlackSimulator, new_writer: NewWriter, clock: FakeClock
) -> None:
    writer, stats = new_writer()
    posted = write_one(writer, row("1"))
    sim.fail_next("chat.update", "internal_error", times=2)
    updated = write_one(writer, row("1", "v2", destination_id=posted.destination_id))
    clock.advance(1)
    sim.faults.error_rate, sim.faults.error_status = 1.0, 503
    failed = write_one(writer, row("2"))

    assert updated.status is RowStatus.SUCCEEDED
    assert len(sim.calls("chat.update")) == 3
    assert (failed.status, failed.error_code) == (RowStatus.FAILED, "HTTP_503")
    assert stats.retries == 2
    # The shared server logs a call just after answering it: give the last entry a moment to land.
    deadline = time.monotonic() + 2
    while len(sim.server.log.calls(path_contains="chat.postMessage")) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sim.server.log.calls(path_contains="chat.postMessage")) == 2  # the 503'd post was sent once


def test_direct_messages_by_email_resolved_once(sim: SlackSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    results = [write_one(writer, row(str(i), channel="ada@example.com")) for i in range(3)]
    missing = write_one(writer, row("9", channel="nobody@example.com"))

    assert {r.status for r in results} == {RowStatus.SUCCEEDED}
    assert (missing.status, missing.error_code) == (RowStatus.REJECTED, "users_not_found")
    assert methods(sim) == [
        "users.lookupByEmail",
        "conversations.open",
        "chat.postMessage",
        "chat.postMessage",
        "chat.postMessage",
        "users.lookupByEmail",
    ]
    assert all(r.destination_id and r.destination_id.startswith("D") for r in results)
    assert sim.render_channel(results[0].destination_id.split(":")[0]).startswith("@ada (3 messages)")  # type: ignore[union-attr]


def test_insert_never_reposts_and_deletes_are_idempotent(sim: SlackSimulator, new_writer: NewWriter) -> None:
    writer, _ = new_writer()
    first = write_one(writer, row("1", op=Operation.INSERT))
    again = write_one(writer, row("1", op=Operation.INSERT, destination_id=first.destination_id))
    deleted = [write_one(writer, RowOp("1", Operation.DELETE, None, first.destination_id)) for _ in range(2)]
    never_posted = write_one(writer, RowOp("2", Operation.DELETE, None, None))

    assert again.destination_id == first.destination_id
    assert {r.status for r in [*deleted, never_posted]} == {RowStatus.SUCCEEDED}
    assert methods(sim) == ["conversations.list", "chat.postMessage", "chat.delete", "chat.delete"]
    assert sim.calls("chat.delete")[1].error == "message_not_found"


def test_check_reports_setup_problems(sim: SlackSimulator, new_writer: NewWriter) -> None:
    sim.workspace.add_channel("secret", is_member=False)
    assert new_writer()[0].check(["id"]) == []
    assert new_writer(channel="nowhere")[0].check([]) == [
        "destination.object 'nowhere': no channel #nowhere in the workspace "
        "(a private channel is only visible once the app is invited)"
    ]
    assert "invite it" in new_writer(channel="secret")[0].check([])[0]
    assert "refused the bot token (invalid_auth)" in new_writer(token="xoxb-wrong")[0].check([])[0]


def test_plugin_is_registered_lazy_and_masks_the_token() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; from activate.destinations.registry import destination_plugin; "
        "p = destination_plugin('slack'); "
        "print(p.name, sorted(p.capabilities().modes), p.capabilities().batch_size, 'slack_sdk' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["slack", "['insert',", "'mirror',", "'upsert']", "1", "False"]

    from activate.destinations.slack import SlackConnection

    assert "xoxb-secret" not in repr(SlackConnection.model_validate({"type": "slack", "token": "xoxb-secret"}))


def test_rate_limited_ok_false_is_waited_out_not_rejected(
    sim: SlackSimulator, new_writer: NewWriter, clock: FakeClock
) -> None:
    """Slack's `rate_limited` (HTTP 200, ok:false) is a rate limit: Retry-After when sent, else the backoff."""
    writer, stats = new_writer()
    sim.rate_limited_next("chat.postMessage", retry_after=6)
    sim.rate_limited_next("chat.postMessage")
    clock.slept.clear()
    posted = write_one(writer, row("1"))
    assert posted.status is RowStatus.SUCCEEDED, posted
    assert [c.error for c in sim.calls("chat.postMessage")] == ["rate_limited", "rate_limited", None]
    assert clock.slept[0] == 6  # Retry-After honoured
    assert clock.slept[1] > 0  # none given: the toolkit's backoff
    assert stats.retries == 2

    sim.rate_limited_next("chat.update", retry_after=3)
    updated = write_one(writer, row("1", "edited", destination_id=posted.destination_id))
    assert updated.status is RowStatus.SUCCEEDED, updated
    assert [m.text for m in sim.messages("general")] == ["edited"]
    assert sim.workspace.message_count("general") == 1
