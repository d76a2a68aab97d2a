"""The Slack simulator as a `ConformanceTarget`: the shared suite syncs `people` into `#people`, one message a row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activate.testing.slack.api import DEFAULT_TOKEN, SlackSimulator

CHANNEL = "people"
WRITE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.delete"})
# The suite runs on the real clock: Slack's one message per second per channel would make a 100-row sync take
# minutes, so the simulator and the connection agree on a faster channel limit (the limit logic is the same).
POSTS_PER_SECOND = 50


class SlackConformanceTarget:
    """Reads records back from message metadata: the writer puts the sync's mapping (`id`, `email`,
    `first_name`) into `event_payload.fields` of every message it posts or updates."""

    name = "slack"
    modes = frozenset({"insert", "upsert", "mirror"})

    def __init__(self) -> None:
        self._simulator: SlackSimulator | None = None

    @property
    def simulator(self) -> SlackSimulator:
        if self._simulator is None:
            raise RuntimeError("the Slack conformance target is not started")
        return self._simulator

    def start(self, workdir: Path) -> None:
        self._simulator = SlackSimulator(channels=(CHANNEL,), posts_per_channel=POSTS_PER_SECOND).start()

    def stop(self) -> None:
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None

    def connection(self) -> dict[str, Any]:
        return {
            "type": "slack",
            "token": DEFAULT_TOKEN,
            "base_url": self.simulator.base_url,
            "rate_limit": {"requests": POSTS_PER_SECOND, "per_seconds": 1},
        }

    def destination(self, mode: str) -> dict[str, Any]:
        return {
            "object": CHANNEL,
            "mode": mode,
            "message": {
                "text": "{{ row.first_name }} {{ row.last_name }} <{{ row.email }}> scored {{ row.score }}",
                "blocks": [
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": "*{{ row.first_name }}* <mailto:{{ row.email }}>"},
                    },
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": "score {{ row.score }}"}]},
                ],
            },
            "mapping": {"id": "id", "email": "email", "first_name": "first_name"},
        }

    def records(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        for message in self.simulator.messages(CHANNEL):
            payload = (message.metadata or {}).get("event_payload") or {}
            fields = payload.get("fields") or {}
            if "id" not in fields:
                continue
            key = str(fields["id"])
            copies = 1
            while (key if copies == 1 else f"{key}#{copies}") in records:
                copies += 1
            records[key if copies == 1 else f"{key}#{copies}"] = {
                "email": fields.get("email"),
                "first_name": fields.get("first_name"),
            }
        return records

    def write_calls(self) -> int:
        return sum(1 for call in self.simulator.calls() if call.method in WRITE_METHODS)

    def reject(self, emails: set[str]) -> None:
        self.simulator.refuse_content(*emails)

    def storm(self, requests: int, retry_after: int) -> None:
        self.simulator.ratelimited_storm(requests, retry_after)

    def slow(self, seconds: float) -> None:
        # Slack carries a post out as it arrives; delaying the answer (not the work) puts a kill exactly in the window
        # reconcile exists for: message posted, result never recorded. A request still queued inside the server when
        # the next run reconciles could not be found by any writer.
        self.simulator.answer_delay = seconds
