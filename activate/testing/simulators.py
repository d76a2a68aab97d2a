"""All four local simulators at once, for `activate simulate all` and `activate demo`."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from activate.cli.scaffold import Endpoints
from activate.testing.hubspot import HubSpotSimulator
from activate.testing.salesforce import SalesforceSimulator
from activate.testing.slack import SlackSimulator
from activate.testing.webhook_sim import WebhookSimulator


class LocalSimulators:
    """Webhook, HubSpot, Salesforce (TLS) and Slack simulators on 127.0.0.1 (ephemeral ports unless given)."""

    def __init__(self, cert_dir: Path, *, base_port: int = 0) -> None:
        def port(offset: int) -> int:
            return base_port + offset if base_port else 0

        self.webhook = WebhookSimulator(port=port(0))
        self.hubspot = HubSpotSimulator(port=port(1))
        self.salesforce = SalesforceSimulator(cert_dir, port=port(2))
        self.slack = SlackSimulator(port=port(3))

    def endpoints(self) -> Endpoints:
        return Endpoints(
            webhook=self.webhook.url,
            hubspot=self.hubspot.url,
            salesforce=self.salesforce.url,
            slack=self.slack.base_url,
            salesforce_ca_bundle=str(self.salesforce.ca_bundle),
        )

    def start(self) -> LocalSimulators:
        self.webhook.start()
        self.hubspot.start()
        self.salesforce.start()
        self.slack.start()
        return self

    def stop(self) -> None:
        for simulator in (self.webhook, self.hubspot, self.salesforce, self.slack):
            simulator.stop()

    def __enter__(self) -> LocalSimulators:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
