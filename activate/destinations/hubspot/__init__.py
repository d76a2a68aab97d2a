"""The HubSpot destination: any CRM object (contacts, companies, deals, custom `2-xxxx`) through hubspot-api-client.

Only the connection model and capabilities load here; the SDK is imported when a writer is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from activate.destinations.base import Capabilities, WriteContext
from activate.destinations.hubspot.config import DEFAULT_CONCURRENCY, HubSpotConnection

if TYPE_CHECKING:
    from activate.config.models import DestinationSpec
    from activate.destinations.hubspot.writer import HubSpotDestination

# HubSpot's contacts guide: partial upserts are not supported when `email` is the batch upsert's idProperty (they
# are with a custom unique property). `batch/update` by email only overwrites the properties it is given.
_NO_PARTIAL_UPSERT_BY = frozenset({"email"})


class HubSpotPlugin:
    """The registry's handle on HubSpot: `type: hubspot` connections and their writer."""

    name = "hubspot"
    connection_model = HubSpotConnection

    def capabilities(self) -> Capabilities:
        from activate.destinations.hubspot.writer import capabilities

        return capabilities(DEFAULT_CONCURRENCY)

    def partial_updates(self, spec: DestinationSpec) -> str | None:
        """Batch update (by any idProperty) and batch upsert by a unique custom property take a subset of the
        properties; batch upsert (upsert and mirror modes) by `email` does not, so the full row is sent."""
        match = (spec.match or "").lower()
        if spec.mode in ("upsert", "mirror") and match in _NO_PARTIAL_UPSERT_BY:
            return (
                f"HubSpot's batch upsert by {match} does not support partial upserts: the full row is sent "
                "(match on a unique custom property to send only changed fields)"
            )
        return None

    def create(self, connection: Any, context: WriteContext) -> HubSpotDestination:
        from activate.destinations.hubspot.writer import HubSpotDestination

        if not isinstance(connection, HubSpotConnection):
            connection = HubSpotConnection.model_validate(connection)
        return HubSpotDestination(connection, context)


plugin = HubSpotPlugin()

__all__ = ["HubSpotConnection", "HubSpotPlugin", "plugin"]
