"""`activate ui`: serve the read-only web audit of the state store on 127.0.0.1 (registered by `cli/app.py`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

ProjectDir = Annotated[
    Path | None,
    typer.Option("--project-dir", "-p", envvar="ACTIVATE_PROJECT_DIR", help="Project directory (default: cwd)."),
]


def ui(
    project_dir: ProjectDir = None,
    host: Annotated[str, typer.Option(help="Interface to listen on; 0.0.0.0 exposes the audit to the network.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8000,
) -> None:
    """Serve a read-only web audit: syncs, run history with plots, row results, one row's story."""
    from activate.clock import SYSTEM_CLOCK
    from activate.config import load_project
    from activate.errors import ActivateError
    from activate.state.store import StateReader
    from activate.ui import AuditServer, Pages

    try:
        project = load_project(project_dir)
        reader = StateReader(project.spec.state.url, project_root=project.root)
        command = "activate-etl" if Path(sys.argv[0]).name == "activate-etl" else "python -m activate"
        server = AuditServer(Pages(project, reader, SYSTEM_CLOCK, command=command), host, port)
    except ActivateError as exc:
        typer.secho(f"Error: {exc}", err=True, fg="red")
        raise typer.Exit(exc.exit_code) from None
    except OSError as exc:
        typer.secho(f"Error: cannot listen on {host}:{port}: {exc.strerror}; pass another --port", err=True, fg="red")
        raise typer.Exit(1) from None
    typer.echo(f"activate audit on {server.url} (read-only); Ctrl-C to stop", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        reader.dispose()
