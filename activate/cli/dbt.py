"""`activate dbt ...`: the dbt side of models-as-sources (registered on the app by `activate/cli/app.py`).

`activate dbt exposures` prints (or writes with `--output`) a dbt properties file with one exposure per sync that
reads dbt models, so `dbt docs` shows which models feed which destination.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

dbt_app = typer.Typer(help="dbt integration: exposures for the syncs that read dbt models.", no_args_is_help=True)

ProjectDir = Annotated[
    Path | None,
    typer.Option("--project-dir", "-p", envvar="ACTIVATE_PROJECT_DIR", help="Project directory (default: cwd)."),
]


@dbt_app.command()
def exposures(
    project_dir: ProjectDir = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here (e.g. ../analytics/models/activate_exposures.yml)."),
    ] = None,
) -> None:
    """dbt `exposures:` YAML: one exposure per sync, depending on the dbt models it reads."""
    from activate.config import load_project
    from activate.errors import ActivateError
    from activate.integrations.dbt import exposures as build_exposures
    from activate.integrations.dbt import exposures_yaml

    try:
        project = load_project(project_dir)
    except ActivateError as exc:
        typer.secho(f"Error: {exc}", err=True, fg="red")
        raise typer.Exit(exc.exit_code) from None
    text = exposures_yaml(project)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.secho(f"Error: cannot write {output}: {exc.strerror}", err=True, fg="red")
        raise typer.Exit(1) from None
    typer.echo(f"wrote {len(build_exposures(project)['exposures'])} exposures to {output}", err=True)
