"""A faithful local Slack: the Web API methods activate uses, over real HTTP, with Slack's limits and errors.

    with SlackSimulator(clock=FakeClock()) as sim:
        client = WebClient(token=sim.token, base_url=sim.base_url, retry_handlers=[])
        client.chat_postMessage(channel="#general", text="hello")
        print(sim.render_channel("general"))

`serve(port)` runs one standalone (what `activate simulate slack --port N` starts).
"""

from __future__ import annotations

from activate.testing.slack.api import DEFAULT_TOKEN, SlackCall, SlackSimulator
from activate.testing.slack.conformance import SlackConformanceTarget
from activate.testing.slack.workspace import MAX_BLOCKS, MAX_TEXT_CHARS, Workspace

__all__ = [
    "DEFAULT_TOKEN",
    "MAX_BLOCKS",
    "MAX_TEXT_CHARS",
    "SlackCall",
    "SlackConformanceTarget",
    "SlackSimulator",
    "Workspace",
    "serve",
]


def serve(port: int, *, host: str = "127.0.0.1", token: str = DEFAULT_TOKEN) -> None:
    """Serve a simulator on `host:port` until interrupted (blocking), with `#general`, `#alerts` and two users."""
    simulator = SlackSimulator(host=host, port=port, token=token)
    simulator.workspace.add_user("ada", "ada@example.com", "Ada Lovelace")
    simulator.workspace.add_user("grace", "grace@example.com", "Grace Hopper")
    print(f"Slack simulator on {simulator.base_url} (token {token}); Ctrl-C to stop", flush=True)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
