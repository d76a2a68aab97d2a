"""The webhook destination: JSON batches POSTed to any HTTP endpoint (wire format in DESIGN §7), on httpx.

Only the connection model and capabilities load here; the writer (and httpx) load when a writer is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from activate.destinations.base import Capabilities, WriteContext
from activate.destinations.webhook.config import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, WebhookConnection

if TYPE_CHECKING:
    from activate.config.models import DestinationSpec
    from activate.destinations.webhook.writer import WebhookDestination


class WebhookPlugin:
    """The registry's handle on webhooks: `type: webhook` connections and their writer."""

    name = "webhook"
    connection_model = WebhookConnection

    def capabilities(self) -> Capabilities:
        from activate.destinations.webhook.writer import capabilities

        return capabilities(DEFAULT_CONCURRENCY, DEFAULT_BATCH_SIZE)

    def partial_updates(self, spec: DestinationSpec) -> str | None:
        """Always: a row's `fields` carry exactly the fields the engine gives; under `update: changed_fields` an
        endpoint merges an update's fields into the record it holds (as the simulator does)."""
        return None

    def create(self, connection: Any, context: WriteContext) -> WebhookDestination:
        from activate.destinations.webhook.writer import WebhookDestination

        if not isinstance(connection, WebhookConnection):
            connection = WebhookConnection.model_validate(connection)
        return WebhookDestination(connection, context)


plugin = WebhookPlugin()

__all__ = ["WebhookConnection", "WebhookPlugin", "plugin"]
