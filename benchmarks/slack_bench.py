"""Slack: N rows to one channel under Slack's one message per second, on the real clock.

    python benchmarks/slack_bench.py            # 120 rows, about two minutes
    python benchmarks/slack_bench.py --rows 20

Prints the elapsed time, the seconds the writer spent throttled (its own pacing plus any Retry-After), and how many
posts Slack answered 429. The expectation: elapsed ~= throttled ~= rows - 1 seconds, no row failed, no 429.
"""

from __future__ import annotations

import argparse
import time

from activate.clock import SYSTEM_CLOCK
from activate.config.models import DestinationSpec, MessageSpec
from activate.destinations.base import Operation, RowOp, RowStatus, RunStats, WriteBatch, WriteContext
from activate.destinations.slack import SlackConnection, plugin
from activate.testing.slack import SlackSimulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=120)
    rows = parser.parse_args().rows

    with SlackSimulator(clock=SYSTEM_CLOCK, channels=("alerts",)) as sim:
        stats = RunStats()
        spec = DestinationSpec(connection="slack", object="#alerts", mode="upsert", message=MessageSpec(text="-"))
        connection = SlackConnection(type="slack", token=sim.token, base_url=sim.base_url)  # type: ignore[arg-type]
        context = WriteContext("slack_bench", "bench", spec, stats, SYSTEM_CLOCK)
        writer = plugin.create(connection, context)
        started = time.monotonic()
        statuses: dict[RowStatus, int] = {}
        for i in range(rows):
            op = RowOp(str(i), Operation.UPSERT, {"text": f"Account {i} is at churn risk"})
            for result in writer.write(WriteBatch(Operation.UPSERT, [op])):
                statuses[result.status] = statuses.get(result.status, 0) + 1
        elapsed = time.monotonic() - started
        writer.close()

        print(f"rows:               {rows}")
        print(f"results:            {', '.join(f'{s.value}={n}' for s, n in sorted(statuses.items()))}")
        print(f"messages in #alerts {sim.workspace.message_count('alerts')}")
        print(f"elapsed:            {elapsed:.1f} s (floor: {rows - 1} s at 1 msg/s)")
        print(f"throttled:          {stats.throttled_seconds:.1f} s")
        print(f"api calls:          {stats.api_calls} (retries {stats.retries})")
        print(f"429 answers:        {len(sim.calls('chat.postMessage', ok=False))}")


if __name__ == "__main__":
    main()
