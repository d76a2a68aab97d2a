"""The Slack destination: one message per row, kept up to date (DESIGN §2, §5, §7).

Importing this package is cheap: slack-sdk is imported when a writer is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from activate.destinations.base import Capabilities, Destination, WriteContext
from activate.destinations.slack.config import CAPABILITIES, SlackConnection

if TYPE_CHECKING:
    from pydantic import BaseModel

    from activate.config.models import DestinationSpec

__all__ = ["SlackConnection", "SlackPlugin", "plugin"]


class SlackPlugin:
    """Registry entry for `type: slack` connections."""

    name = "slack"
    connection_model: type[BaseModel] = SlackConnection

    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def partial_updates(self, spec: DestinationSpec) -> str | None:
        """Never: a message is rendered from the whole row, and chat.update replaces it as a whole."""
        return "Slack replaces a message as a whole (chat.update): the full row is rendered and sent"

    def create(self, connection: Any, context: WriteContext) -> Destination:
        from activate.destinations.slack.writer import SlackWriter

        if not isinstance(connection, SlackConnection):
            connection = SlackConnection.model_validate(connection)
        return SlackWriter(connection, context)


plugin = SlackPlugin()
