"""`activate demo`: the first five minutes, in one command.

Starts the four local simulators, scaffolds a project against them, runs every sync, edits the warehouse (three
customers change, one leaves, one account's churn risk rises and one's falls), runs every sync again, and prints
the per-row audit, what each write changed field by field (old → new), and what landed in each simulated
destination.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from activate.errors import UsageError
from activate.program import command

if TYPE_CHECKING:
    from activate.cli.console import RichConsole
    from activate.testing.simulators import LocalSimulators

MARKER = ".activate-demo"

EDITS = [
    "update analytics.customers set first_name = 'Katherine', ltv = ltv + 1000 where customer_id in (3, 8, 14)",
    "delete from analytics.customers where customer_id = 25",
    "update analytics.customers set churn_risk = 0.95 where customer_id = 4",  # a new alert is posted
    "update analytics.customers set churn_risk = 0.10 where customer_id = 10",  # a resolved alert is deleted
]


def _prepare(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise UsageError(f"{directory} exists and is not a demo project; pass another --dir")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)


def run_demo(directory: Path, console: RichConsole) -> int:
    """Run the demo in `directory`; returns the exit code (0 when every run succeeded)."""
    import duckdb

    from activate.cli.scaffold import scaffold
    from activate.config import load_project
    from activate.engine import RunOptions, run_sync
    from activate.state.store import StateReader
    from activate.testing.simulators import LocalSimulators

    directory = directory.resolve()
    _prepare(directory)
    out = console.out
    with LocalSimulators(directory / ".activate" / "simulator") as sims:
        scaffold(directory, force=True, endpoints=sims.endpoints())
        (directory / MARKER).write_text("created by `activate demo`; safe to delete\n")
        project = load_project(directory)
        order = list(project.run_order())
        out.rule("[bold]1. First run: every row is new")
        first = [run_sync(project, name, RunOptions(trigger="demo")) for name in order]
        for summary in first:
            console.summary(summary)

        out.rule("[bold]2. The warehouse changes")
        con = duckdb.connect(str(directory / "warehouse.duckdb"))
        try:
            for statement in EDITS:
                out.print(f"  [dim]{statement}[/]")
                con.execute(statement)
        finally:
            con.close()

        out.rule("[bold]3. Second run: only what changed is sent")
        second = [run_sync(project, name, RunOptions(trigger="demo")) for name in order]
        for summary in second:
            console.summary(summary)

        out.rule("[bold]4. The per-row audit of the second run (activate_row_results)")
        reader = StateReader(project.spec.state.url, project_root=project.root)
        for summary in second:
            out.print(f"[bold]{summary.sync_name}[/] run {summary.run_id}")
            console.rows([r.to_dict() for r in reader.row_results(summary.run_id)])

        out.rule("[bold]5. What each HubSpot write changed, field by field (activate rows RUN --diff)")
        from activate.cli.audit import row_changes

        hubspot = next(s for s in second if s.sync_name == "hubspot_contacts")
        changed = [row_changes(r) for r in reader.row_results(hubspot.run_id) if r.changed_fields]
        console.row_changes(changed)

        out.rule("[bold]6. What landed in each destination")
        _show_destinations(sims, console)
        out.print(
            f"\nThe project is in [bold]{directory}[/]. Try: "
            f"{command(f'runs -p {directory}')}   |   {command(f'plan hubspot_contacts -p {directory}')}"
        )
    codes = [s.exit_code for s in first + second]
    return max(codes) if any(codes) else 0


def _show_destinations(sims: LocalSimulators, console: RichConsole) -> None:
    out = console.out
    contacts_type = sims.hubspot.schema.resolve("contacts")
    assert contacts_type is not None
    contacts = list(sims.hubspot.crm.store(contacts_type))
    katherines = sum(1 for c in contacts if c.properties.get("firstname") == "Katherine")
    out.print(f"HubSpot contacts: {len(contacts)} ({katherines} renamed Katherine)")
    sf_contacts = sims.salesforce.org.records("Contact")
    out.print(f"Salesforce Contacts: {len(sf_contacts)}")
    webhook_rows = sims.webhook.rows("customers")
    out.print(f"Webhook endpoint holds {len(webhook_rows)} customers (customer 25 deleted by the mirror)")
    out.print("Slack #alerts, as a user sees it:")
    out.print(sims.slack.render_channel("alerts"), markup=False, highlight=False)
