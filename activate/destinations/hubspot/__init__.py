"""The HubSpot destination: any CRM object (contacts, companies, deals, custom `2-xxxx`) through hubspot-api-client.

Only the connection model and capabilities load here; the SDK is imported when a writer is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from activate.destinations.base import Capabilities, WriteContext
from activate.destinations.hubspot.config import DEFAULT_CONCURRENCY, HubSpotConnection

if TYPE_CHECKING:
    from activate.destinations.hubspot.writer import HubSpotDestination


class HubSpotPlugin:
    """The registry's handle on HubSpot: `type: hubspot` connections and their writer."""

    name = "hubspot"
    connection_model = HubSpotConnection

    def capabilities(self) -> Capabilities:
        from activate.destinations.hubspot.writer import capabilities

        return capabilities(DEFAULT_CONCURRENCY)

    def create(self, connection: Any, context: WriteContext) -> HubSpotDestination:
        from activate.destinations.hubspot.writer import HubSpotDestination

        if not isinstance(connection, HubSpotConnection):
            connection = HubSpotConnection.model_validate(connection)
        return HubSpotDestination(connection, context)


plugin = HubSpotPlugin()

__all__ = ["HubSpotConnection", "HubSpotPlugin", "plugin"]
