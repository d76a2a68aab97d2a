"""The simulator through the real slack-sdk WebClient over real HTTP: encodings, errors, limits and faults."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from activate.clock import FakeClock
from activate.testing.slack import MAX_BLOCKS, MAX_TEXT_CHARS, SlackSimulator

META = {"event_type": "activate_row", "event_payload": {"sync": "s", "row_key": "1"}}


@pytest.fixture
def client(sim: SlackSimulator) -> WebClient:
    return WebClient(token=sim.token, base_url=sim.base_url, retry_handlers=[])


def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def test_post_update_delete_and_history_with_metadata(sim: SlackSimulator, client: WebClient, clock: FakeClock) -> None:
    posted = client.chat_postMessage(channel="#general", text="hello", metadata=META)
    clock.advance(1)
    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="hello again")
    second = client.chat_postMessage(channel=posted["channel"], text="bye")
    client.chat_delete(channel=second["channel"], ts=second["ts"])

    history = client.conversations_history(channel=posted["channel"], include_all_metadata=True)
    assert [(m["text"], m["metadata"]) for m in history["messages"]] == [("hello again", META)]
    assert "metadata" not in client.conversations_history(channel=posted["channel"])["messages"][0]
    assert [c.method for c in sim.calls()] == [
        "chat.postMessage",
        "chat.update",
        "chat.postMessage",
        "chat.delete",
        "conversations.history",
        "conversations.history",
    ]
    assert "hello again (edited)" not in sim.render_channel("general")
    assert "(edited)" in sim.render_channel("general")
    assert "hello again" in sim.render_channel("general")


def test_form_query_and_multipart_encodings_are_accepted(sim: SlackSimulator, client: WebClient) -> None:
    form_args = {"channel": "general", "text": "form", "metadata": json.dumps(META)}
    form = client.api_call("chat.postMessage", params=form_args)
    multipart = client.api_call("chat.postMessage", data={"channel": "alerts", "text": "multipart"})
    query = urllib.parse.urlencode({"token": sim.token, "channel": form["channel"], "include_all_metadata": "true"})
    with urllib.request.urlopen(f"{sim.base_url}conversations.history?{query}") as answer:
        history = json.loads(answer.read())
    assert history["messages"][0]["metadata"] == META
    assert multipart["message"]["text"] == "multipart"
    assert sim.calls("chat.postMessage")[0].args["metadata"] == META


def test_errors_are_ok_false_with_http_200(sim: SlackSimulator, client: WebClient) -> None:
    sim.workspace.add_channel("private-room", is_member=False)
    cases = {
        "channel_not_found": lambda: client.chat_postMessage(channel="#nope", text="x"),
        "not_in_channel": lambda: client.chat_postMessage(channel="private-room", text="x"),
        "msg_too_long": lambda: client.chat_postMessage(channel="general", text="x" * (MAX_TEXT_CHARS + 1)),
        "invalid_blocks": lambda: client.chat_postMessage(
            channel="general", text="x", blocks=[{"type": "divider"}] * (MAX_BLOCKS + 1)
        ),
        "invalid_metadata_format": lambda: client.chat_postMessage(
            channel="general", text="x", metadata={"event_type": "bad type!", "event_payload": {}}
        ),
        "message_not_found": lambda: client.chat_update(channel="general", ts="1.000001", text="x"),
        "users_not_found": lambda: client.users_lookupByEmail(email="nobody@example.com"),
    }
    for code, call in cases.items():
        error = slack_error(call)
        assert (error.response.status_code, error.response["error"]) == (200, code)
    bad_section = slack_error(
        lambda: client.chat_postMessage(channel="general", text="x", blocks=[{"type": "section"}])
    )
    assert bad_section.response["response_metadata"]["messages"] == [
        "[ERROR] must provide either text or fields [json-pointer:/blocks/0]"
    ]
    assert sim.messages("general") == []


def test_auth_errors(sim: SlackSimulator) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=sim.base_url, retry_handlers=[])
    assert slack_error(wrong.auth_test).response["error"] == "invalid_auth"
    right = WebClient(token=sim.token, base_url=sim.base_url, retry_handlers=[])
    assert right.auth_test()["user_id"] == sim.workspace.bot_user_id
    sim.revoke_token()
    assert slack_error(right.auth_test).response["error"] == "token_revoked"


def test_one_message_per_second_per_channel(sim: SlackSimulator, client: WebClient, clock: FakeClock) -> None:
    client.chat_postMessage(channel="general", text="1")
    client.chat_postMessage(channel="alerts", text="other channel is not limited")
    limited = slack_error(lambda: client.chat_postMessage(channel="general", text="2"))
    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "1"
    assert limited.response["error"] == "ratelimited"
    clock.advance(0.5)
    assert slack_error(lambda: client.chat_postMessage(channel="general", text="2")).response.status_code == 429
    clock.advance(0.5)
    client.chat_postMessage(channel="general", text="2")
    assert [m.text for m in sim.messages("general")] == ["1", "2"]


def test_method_tier_limit(sim: SlackSimulator, client: WebClient, clock: FakeClock) -> None:
    for _ in range(20):  # conversations.list is Tier 2: 20 per minute
        client.conversations_list()
    clock.advance(15)
    limited = slack_error(client.conversations_list)
    assert (limited.response.status_code, limited.response.headers["Retry-After"]) == (429, "45")
    clock.advance(45)
    assert client.conversations_list()["ok"] is True


def test_storm_failures_latency_and_lost_responses(sim: SlackSimulator, client: WebClient, clock: FakeClock) -> None:
    sim.ratelimited_storm(2, retry_after=7)
    for _ in range(2):
        storm = slack_error(client.auth_test)
        assert (storm.response.status_code, storm.response.headers["Retry-After"]) == (429, "7")
    sim.fail_next("chat.update", "internal_error")
    posted = client.chat_postMessage(channel="general", text="x")
    assert (
        slack_error(lambda: client.chat_update(channel=posted["channel"], ts=posted["ts"], text="y")).response["error"]
        == "internal_error"
    )
    sim.faults.error_rate, sim.faults.error_status = 1.0, 503
    assert slack_error(client.auth_test).response.status_code == 503
    sim.faults.reset()
    sim.lose_response_next("chat.postMessage")
    clock.advance(1)
    with pytest.raises(Exception, match="Remote end closed|Connection reset|closed connection"):
        client.chat_postMessage(channel="general", text="lost answer")
    assert [m.text for m in sim.messages("general")] == ["x", "lost answer"]


def test_dm_by_user_and_pagination(sim: SlackSimulator, client: WebClient, clock: FakeClock) -> None:
    user = client.users_lookupByEmail(email="ADA@example.com")["user"]
    dm = client.conversations_open(users=user["id"])["channel"]["id"]
    for i in range(5):
        client.chat_postMessage(channel=dm, text=f"m{i}")
        clock.advance(1)
    seen, cursor = [], None
    while True:
        page = client.conversations_history(channel=dm, limit=2, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            assert page["has_more"] is False
            break
    assert seen == ["m4", "m3", "m2", "m1", "m0"]
    assert dm.startswith("D")
    assert sim.render_channel(dm).startswith("@ada (5 messages)")


def test_render_channel_shows_blocks(sim: SlackSimulator, client: WebClient) -> None:
    client.chat_postMessage(
        channel="sales",
        text="New lead",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "New enterprise lead"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Acme* wants 500 seats"}},
            {"type": "divider"},
        ],
    )
    lines = sim.render_channel("sales").splitlines()
    assert lines[0] == "#sales (1 messages)"
    assert lines[2:] == ["    NEW ENTERPRISE LEAD", "    *Acme* wants 500 seats", "    " + "-" * 40]


def test_serve_runs_standalone() -> None:
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-c", f"from activate.testing.slack import serve; serve({port})"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert f"http://127.0.0.1:{port}/api/" in child.stdout.readline()
        client = WebClient(token="xoxb-activate-simulator", base_url=f"http://127.0.0.1:{port}/api/", retry_handlers=[])
        deadline = time.monotonic() + 5
        while True:
            try:
                assert client.users_lookupByEmail(email="ada@example.com")["user"]["name"] == "ada"
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        child.terminate()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def test_rate_limited_is_an_ok_false_http_200_and_posts_nothing(sim: SlackSimulator, client: WebClient) -> None:
    sim.rate_limited_next("chat.postMessage", retry_after=4)
    sim.rate_limited_next("chat.update")
    error = slack_error(lambda: client.chat_postMessage(channel="general", text="x"))
    assert (error.response.status_code, error.response["error"]) == (200, "rate_limited")
    assert error.response.headers["Retry-After"] == "4"
    assert sim.messages("general") == []
    posted = client.chat_postMessage(channel="general", text="x")
    update = slack_error(lambda: client.chat_update(channel=posted["channel"], ts=posted["ts"], text="y"))
    assert (update.response["error"], "Retry-After" in update.response.headers) == ("rate_limited", False)
    assert [m.text for m in sim.messages("general")] == ["x"]
