"""The Salesforce destination: any sObject by External ID, through sObject Collections or Bulk API 2.0.

Only the connection model and capabilities load here; simple-salesforce is imported when a writer is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from activate.destinations.base import Capabilities, Destination, WriteContext
from activate.destinations.salesforce.config import DEFAULT_LIMITS, SalesforceConnection

if TYPE_CHECKING:
    from pydantic import BaseModel

    from activate.config.models import DestinationSpec


class SalesforcePlugin:
    """The registry's view of the Salesforce destination (`type: salesforce`)."""

    name = "salesforce"
    connection_model: type[BaseModel] = SalesforceConnection

    def capabilities(self) -> Capabilities:
        from activate.destinations.salesforce.writer import capabilities

        return capabilities(DEFAULT_LIMITS.max_concurrency)

    def partial_updates(self, spec: DestinationSpec) -> str | None:
        """Always: sObject Collections update/upsert (PATCH) change only the fields in the body, and a Bulk API 2.0
        job ignores fields a row leaves empty (`#N/A` sets null)."""
        return None

    def create(self, connection: Any, context: WriteContext) -> Destination:
        from activate.destinations.salesforce.writer import SalesforceDestination

        if not isinstance(connection, SalesforceConnection):
            connection = SalesforceConnection.model_validate(connection)
        return SalesforceDestination(connection, context)


plugin = SalesforcePlugin()

__all__ = ["SalesforceConnection", "SalesforcePlugin", "plugin"]
