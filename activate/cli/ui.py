"""`activate ui`: serve the read-only web audit of the state store on 127.0.0.1 (registered by `cli/app.py`).

Errors (a bad project, an unreadable state store) reach the CLI's one error boundary like every command's.
"""

from __future__ import annotations

from typing import Annotated

import typer

from activate.cli.options import ProjectDir, Target


def ui(
    project_dir: ProjectDir = None,
    target: Target = None,
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Interface to listen on; 0.0.0.0 exposes the audit to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port (0: any free port).")] = 8000,
) -> None:
    """Serve a read-only web audit: syncs, run history with plots, row results, one row's story."""
    from activate.clock import SYSTEM_CLOCK
    from activate.config import load_project
    from activate.errors import UsageError
    from activate.program import program_name
    from activate.state.reader import StateReader
    from activate.ui import AuditServer, Pages

    project = load_project(project_dir, target=target)
    reader = StateReader(project.spec.state.url, project_root=project.root)
    try:
        server = AuditServer(Pages(project, reader, SYSTEM_CLOCK, command=program_name()), host, port)
    except OSError as exc:
        reader.dispose()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; pass another --port") from None
    typer.echo(f"activate audit on {server.url} (read-only); Ctrl-C to stop", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        reader.dispose()
