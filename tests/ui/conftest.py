"""A project with history for the web audit: three runs of a webhook sync, ten rows rejected in each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from activate.clock import SYSTEM_CLOCK
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator
from activate.ui import AuditServer, Pages

REJECTED = {f"person{i}@example.com" for i in range(1, 11)}


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScratchProject, list[Any]]:
    project = ScratchProject(tmp_path_factory.mktemp("audited"))
    project.people(300)
    with WebhookSimulator(per_row_results=True) as sim:
        sim.reject_emails = set(REJECTED)
        project.add_connection("hooks", {"type": "webhook", "url": sim.url})
        project.add_sync(
            "people_hook",
            {
                "connection": "hooks",
                "object": "people",
                "mode": "mirror",
                "batch_size": 50,
                "mapping": {"email": "email", "first_name": "first_name"},
            },
        )
        summaries = []
        for i in range(3):
            project.execute(f"update people set first_name = 'R{i}' || id where id % 7 = {i}")
            summaries.append(project.run("people_hook"))
    return project, summaries


@pytest.fixture(scope="module")
def server(audited: tuple[ScratchProject, list[Any]]) -> Iterator[AuditServer]:
    project, _ = audited
    loaded = project.load()
    reader = project.reader()
    with AuditServer(Pages(loaded, reader, SYSTEM_CLOCK, command="python -m activate"), port=0) as running:
        yield running
    reader.dispose()
