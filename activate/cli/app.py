"""`activate-etl` / `python -m activate`: thin commands over the engine.

Errors become a red one-line `Error:` and an exit code (`activate.exits`: 0 succeeded, 1 failed, 2 invalid config
or usage, 3 partial, 4 a guardrail trips on `plan`, 130 interrupted); the traceback shows only with
ACTIVATE_DEBUG=1. Heavy modules are imported inside commands so `--help` starts fast. Commands with a body of their
own live in their modules (`planning`, `running`, `explaining`, `ops`); this file registers them and their options.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from activate.cli.help import PlainGroup, PlainTyper
from activate.cli.options import Exclude, JsonFlag, ProjectDir, Select, Selectors, Target
from activate.program import command

if TYPE_CHECKING:
    from activate.cli.console import Console
    from activate.config import Project
    from activate.plan.preflight import Preflight

T = TypeVar("T")

app = PlainTyper(
    name="activate",
    cls=PlainGroup,  # every command inside one error boundary (`BoundaryGroup`), help without type noise
    help="Reverse ETL: sync warehouse rows into HubSpot, Salesforce, Slack and webhooks, with a per-row audit.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
)


def _show_version(value: bool) -> None:
    if value:
        from activate import __version__

        typer.echo(f"activate-etl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Reverse ETL: sync warehouse rows into HubSpot, Salesforce, Slack and webhooks, with a per-row audit."""


def _guard(console: Console, action: Callable[[], T]) -> T:
    """Run a command body; activate errors become `Error:` and their exit code."""
    from activate.errors import ActivateError

    try:
        return action()
    except ActivateError as exc:
        if os.environ.get("ACTIVATE_DEBUG") == "1":
            raise
        console.error(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.error("interrupted")
        raise typer.Exit(130) from None
    finally:
        console.close()


def _project(project_dir: Path | None, target: str | None = None, console: Console | None = None) -> Project:
    """Load the project with `target` applied; the console then names the target in everything it prints."""
    from activate.config import load_project

    project = load_project(project_dir, target=target)
    if console is not None:
        console.use_target(project.target)
    return project


def _selected(
    project: Project, selectors: list[str] | None, select: list[str] | None, exclude: list[str] | None
) -> list[str]:
    from activate.selection import select_syncs

    return select_syncs(project, [*(selectors or []), *(select or [])], exclude or [])


def _console(json_output: bool) -> Console:
    from activate.cli.console import make_console

    return make_console(json_output)


class _GracefulStop:
    """SIGTERM and Ctrl-C ask the running sync to stop gracefully: its batches in flight finish and are recorded,
    the run ends `aborted` (kind `interrupted`), and `activate run` exits 128 + the signal (130 for SIGINT, 143 for
    SIGTERM). A second signal interrupts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def install(self) -> None:
        for name in ("SIGINT", "SIGTERM"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signum = signum
        self.event.set()

    @property
    def exit_code(self) -> int | None:
        return 128 + self.signum if self.signum is not None else None


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Directory to create.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Write into a non-empty directory.")] = False,
) -> None:
    """Scaffold a project: activate.yml, syncs/, and a sample DuckDB warehouse."""
    from activate.cli.scaffold import scaffold

    console = _console(False)
    created = _guard(console, lambda: scaffold(path, force=force))
    console.message(f"Created project in {path}: " + ", ".join(str(p) for p in created))
    console.message(f"Next: {command('validate')} && {command('plan')}")


@app.command()
def validate(
    selectors: Selectors = None,
    select: Select = None,
    exclude: Exclude = None,
    project_dir: ProjectDir = None,
    target: Target = None,
    check_connections: Annotated[
        bool, typer.Option("--check-connections", help="Also log in to each destination and check mapped fields.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Check every project and sync file; every error with file:line:col and a hint."""
    console = _console(json_output)
    project = _guard(console, lambda: _project(project_dir, target, console))
    for warning in project.warnings:
        console.warning(str(warning))
    names = _guard(console, lambda: _selected(project, selectors, select, exclude) if project.syncs else [])
    _guard(console, lambda: _check_dbt_columns(project, names, check_connections))
    described = _guard(console, lambda: _described(project, names, check_connections))
    console.message(f"OK: {len(project.syncs)} syncs valid ({', '.join(project.syncs) or 'none'})")
    for skipped in described.skipped:
        console.message(skipped)
    for failure in described.failures:
        console.error(failure)
    if check_connections:
        from activate.engine import check_destination
        from activate.secrets.checks import check_references
        from activate.secrets.connections import new_session
        from activate.secrets.session import secret_scope

        with secret_scope(new_session(project)):  # each provider secret is fetched once for all the checks
            references = check_references(project)
            for check in references:
                (console.message if check.resolved else console.error)(str(check))
            problems = _guard(console, lambda: {name: check_destination(project, name) for name in names})
        for name, found in problems.items():
            for problem in found:
                console.error(f"{project.sync(name).where('destination')}: {name}: {problem}")
            if not found:
                console.message(f"{name}: destination reachable, every mapped field exists")
        if any(problems.values()) or not all(check.resolved for check in references):
            raise typer.Exit(1)
    if described.failures:
        raise typer.Exit(1)


def _described(project: Project, names: list[str], connect: bool) -> Preflight:
    """Each sync's query described (never read) and its columns checked as `plan` would; config issues raise."""
    from activate.errors import ConfigError
    from activate.plan.preflight import preflight

    found = preflight(project, names, connect=connect)
    if found.issues:
        raise ConfigError(found.issues)
    return found


def _check_dbt_columns(project: Project, names: list[str], warehouse: bool) -> None:
    from activate.errors import ConfigError
    from activate.integrations.dbt import check_model_columns

    issues = check_model_columns(project, names, warehouse=warehouse)
    if issues:
        raise ConfigError(issues)


@app.command()
def plan(
    selectors: Selectors = None,
    select: Select = None,
    exclude: Exclude = None,
    project_dir: ProjectDir = None,
    target: Target = None,
    full_resync: Annotated[bool, typer.Option("--full-resync", help="Plan as if nothing was synced.")] = False,
    retry_rejected: Annotated[bool, typer.Option("--retry-rejected", help="Include unchanged rejected rows.")] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Show each sample changed row's changed fields as old → new.")
    ] = False,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="K",
            help="Show what the run does with the row of primary key K, old → new (repeatable; a composite key as "
            "JSON: '[1,\"eu\"]').",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Dry run: what a run would send (+added ~changed -removed), samples, guardrail verdicts. Writes nothing.

    Several syncs (all when none is named): a summary table, then each plan. Exit 4 when a guardrail trips.
    """
    console = _console(json_output)

    def body() -> int:
        from activate.cli.planning import plan_exit_code, plan_syncs
        from activate.plan.builder import PlanOptions

        project = _project(project_dir, target, console)
        names = _selected(project, selectors, select, exclude)
        options = PlanOptions(full_resync=full_resync, retry_rejected=retry_rejected, sample_keys=tuple(key or ()))
        plans = plan_syncs(project, names, options)
        console.plans(plans, diff=diff)
        return plan_exit_code(plans)

    raise typer.Exit(_guard(console, body))


@app.command()
def run(
    selectors: Selectors = None,
    select: Select = None,
    exclude: Exclude = None,
    all_syncs: Annotated[bool, typer.Option("--all", help="Run every sync (with --exclude: all but those).")] = False,
    project_dir: ProjectDir = None,
    target: Target = None,
    full_resync: Annotated[
        bool, typer.Option("--full-resync", help="Ignore stored hashes: re-send every row.")
    ] = False,
    retry_rejected: Annotated[bool, typer.Option("--retry-rejected", help="Re-send rejected rows.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for a running run of the same sync.")] = False,
    approve_deletes: Annotated[
        int | None,
        typer.Option(
            "--approve-deletes",
            metavar="N",
            help="Let this run delete up to N rows past max_deletes (needs --reason; recorded on the run).",
        ),
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Show each plan and ask before passing a tripped max_deletes.")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why the approved deletes are intended.")
    ] = None,
    json_output: JsonFlag = False,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format", envvar="ACTIVATE_LOG_FORMAT", metavar="text|json", help="json: structured logs on stderr."
        ),
    ] = None,
    log_file: Annotated[
        Path | None, typer.Option("--log-file", metavar="PATH", help="Also append the run's logs (INFO) to PATH.")
    ] = None,
) -> None:
    """Run syncs once, dependencies first. Exit: 0 succeeded, 1 failed, 2 invalid config, 3 partial, 130 stopped
    by Ctrl-C (SIGINT), 143 stopped by SIGTERM (batches in flight finish and are recorded; the run ends aborted)."""
    from activate.logs import configure

    configure(log_format, log_file=log_file)
    console = _console(json_output)
    stop = _GracefulStop()
    stop.install()

    def body() -> int:
        import dataclasses

        from activate.cli.running import approval_options, run_syncs
        from activate.engine import RunOptions
        from activate.errors import UsageError

        if not (selectors or select or all_syncs):
            raise UsageError("name the syncs to run (names, globs, tag:NAME, +NAME), or pass --all")
        if approve and approve_deletes is not None:
            raise UsageError("give either --approve (asks after showing the plan) or --approve-deletes N, not both")
        options = RunOptions(full_resync=full_resync, retry_rejected=retry_rejected, wait=wait)
        if approve:
            options = dataclasses.replace(options, approval_reason=reason)
        else:
            options = approval_options(options, approve_deletes, reason)
        project = _project(project_dir, target, console)
        names = _selected(project, selectors, select, exclude)
        code = run_syncs(console, project, names, options, ask=approve, stop=stop.event)
        return stop.exit_code or code

    code = _guard(console, body)
    raise typer.Exit(code)


@app.command()
def runs(
    selectors: Selectors = None,
    select: Select = None,
    exclude: Exclude = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status", metavar="STATUS", help="running | succeeded | partial | failed | aborted (repeatable)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="How many runs.")] = 20,
    project_dir: ProjectDir = None,
    target: Target = None,
    json_output: JsonFlag = False,
) -> None:
    """Run history, newest first (every run id in full: `rows` and `explain` take it, or a unique prefix)."""
    console = _console(json_output)

    def body() -> None:
        from activate.cli.audit import RUN_STATUSES, check_choices, open_reader, recent_runs

        statuses = check_choices(status or [], RUN_STATUSES, "run status")
        project = _project(project_dir, target, console)
        named = bool(selectors or select or exclude)
        names = _selected(project, selectors, select, exclude) if named else None
        reader = open_reader(project)
        try:
            console.runs([r.to_dict() for r in recent_runs(reader, names, statuses, limit)])
        finally:
            reader.dispose()

    _guard(console, body)


@app.command()
def rows(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="Run id (a unique prefix is enough).")],
    status: Annotated[
        list[str] | None,
        typer.Option("--status", metavar="STATUS", help="succeeded | failed | rejected | skipped (repeatable)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(metavar="N", help="At most this many rows.")] = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Each row's changed fields as old → new (a created record: created).")
    ] = False,
    project_dir: ProjectDir = None,
    target: Target = None,
    json_output: JsonFlag = False,
) -> None:
    """Per-row results of a run (`--diff`: what each write changed, field by field)."""
    console = _console(json_output)

    def body() -> None:
        from activate.cli.audit import check_choices, open_reader, resolve_run, row_changes, row_statuses

        statuses = check_choices(status or [], row_statuses(), "row status")
        project = _project(project_dir, target, console)
        reader = open_reader(project)
        try:
            found = reader.row_results(resolve_run(reader, run_id).run_id, statuses, limit)
            if diff:
                console.row_changes([row_changes(r) for r in found])
            else:
                console.rows([r.to_dict() for r in found])
        finally:
            reader.dispose()

    _guard(console, body)


@app.command()
def reset(
    sync: Annotated[str, typer.Argument(metavar="SYNC", help="Sync name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    project_dir: ProjectDir = None,
    target: Target = None,
) -> None:
    """Forget a sync's state: its next run re-sends every row (upserts by external id, so nothing duplicates)."""
    console = _console(False)

    def body() -> None:
        from activate.state.open import open_state_store

        project = _project(project_dir, target, console)
        loaded = project.sync(sync)
        if not yes and not typer.confirm(f"Forget every synced row of '{sync}'?"):
            raise typer.Exit(1)
        store = open_state_store(project, loaded)  # per-row state may live in the warehouse (state: warehouse)
        try:
            count = store.reset(sync)
        finally:
            store.dispose()
        from activate.plan.state_location import remember_state

        remember_state(project, loaded, 0)  # an empty store is now expected: no "moved state" warning
        console.message(f"Forgot {count} rows of '{sync}'; the next run re-sends every row.")

    _guard(console, body)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to create the demo project.")] = Path("activate-demo"),
) -> None:
    """Start local simulators of HubSpot, Salesforce, Slack and a webhook; sync a sample warehouse twice; audit."""
    console = _console(False)

    def body() -> int:
        from activate.cli.console import RichConsole
        from activate.cli.demo import run_demo

        assert isinstance(console, RichConsole)
        return run_demo(directory, console)

    raise typer.Exit(_guard(console, body))


@app.command()
def simulate(
    vendor: Annotated[str, typer.Argument(help="hubspot | salesforce | slack | webhook | all")],
    port: Annotated[
        int, typer.Option(help="Port (all: webhook, then hubspot, salesforce, slack on the next ones).")
    ] = 0,
    cert_dir: Annotated[Path, typer.Option(help="Where the Salesforce simulator writes its CA bundle.")] = Path(
        ".activate/simulator"
    ),
) -> None:
    """Serve a local simulator of a destination's API until interrupted (for `activate init` projects, your CI)."""
    import threading

    console = _console(False)
    chosen = port or 8790

    def body() -> None:
        if vendor == "all":
            from activate.testing.simulators import LocalSimulators

            with LocalSimulators(cert_dir, base_port=chosen) as sims:
                endpoints = sims.endpoints()
                console.message(
                    f"webhook {endpoints.webhook}\nhubspot {endpoints.hubspot}\nsalesforce {endpoints.salesforce} "
                    f"(CA bundle {endpoints.salesforce_ca_bundle})\nslack {endpoints.slack}\nCtrl-C to stop."
                )
                threading.Event().wait()
        elif vendor == "hubspot":
            from activate.testing.hubspot import serve as serve_hubspot

            serve_hubspot(port or 8791)
        elif vendor == "salesforce":
            from activate.testing.salesforce import serve as serve_salesforce

            serve_salesforce(port or 8792, cert_dir)
        elif vendor == "slack":
            from activate.testing.slack import serve as serve_slack

            serve_slack(port or 8793)
        elif vendor == "webhook":
            from activate.testing.webhook_sim import WebhookSimulator

            simulator = WebhookSimulator(port=port or 8790)
            console.message(f"webhook simulator on {simulator.url}; Ctrl-C to stop.")
            simulator.server.serve_forever()
        else:
            from activate.errors import UsageError

            raise UsageError(f"unknown simulator '{vendor}': choose hubspot, salesforce, slack, webhook or all")

    def serve() -> None:
        try:
            body()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            from activate.errors import ActivateError

            default = {"hubspot": 8791, "salesforce": 8792, "slack": 8793}.get(vendor, 8790)
            ports = f"ports {chosen}-{chosen + 3} are" if vendor == "all" else f"port {port or default} is"
            raise ActivateError(
                f"cannot start the {vendor} simulator: {ports} already in use (choose another with --port)"
            ) from None

    _guard(console, serve)


from activate.cli.dbt import dbt_app  # noqa: E402 - registered after the app's own commands
from activate.cli.explaining import explain  # noqa: E402
from activate.cli.ops import schedule, status  # noqa: E402
from activate.cli.reverting import resume, revert  # noqa: E402
from activate.cli.ui import ui  # noqa: E402

app.command()(explain)
app.command()(revert)
app.command()(resume)
app.command()(schedule)
app.command()(status)
app.command()(ui)
app.add_typer(dbt_app, name="dbt")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as exc:
        sys.exit(exc.code)
