"""Fixtures for CLI tests: a webhook simulator and a project of several tagged, ordered syncs writing to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookConformanceTarget


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[WebhookConformanceTarget]:
    target = WebhookConformanceTarget()
    target.start(tmp_path)
    yield target
    target.stop()


@pytest.fixture
def crm_project(tmp_path: Path, webhook: WebhookConformanceTarget) -> ScratchProject:
    """Five syncs of 20 people rows: three tagged crm (contacts runs after tickets), two others."""
    project = ScratchProject(tmp_path / "crm")
    project.people(20)
    project.add_connection("hooks", webhook.connection())
    destination = {"connection": "hooks", **webhook.destination("upsert")}
    project.add_sync("hubspot_companies", destination, tags=["crm", "nightly"])
    project.add_sync("hubspot_contacts", destination, tags=["crm"], after=["hubspot_tickets"])
    project.add_sync("hubspot_tickets", destination, tags=["crm"])
    project.add_sync("salesforce_accounts", destination)
    project.add_sync("slack_alerts", destination, tags=["alerts"], after=["hubspot_contacts"])
    return project
