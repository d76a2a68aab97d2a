"""Options shared by several commands, declared once so every command spells and documents them alike.

Help texts say what a value means, never its Python type (Typer's metavars are set to words a user reads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectDir = Annotated[
    Path | None,
    typer.Option(
        "--project-dir",
        "-p",
        envvar="ACTIVATE_PROJECT_DIR",
        metavar="DIR",
        help="Project directory (default: the current one).",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout, for machines.")]
Target = Annotated[
    str | None,
    typer.Option(
        "--target",
        "-t",
        envvar="ACTIVATE_TARGET",
        metavar="NAME",
        help="The targets: entry of activate.yml to use (default: default_target:).",
    ),
]
Selectors = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="SELECTOR",
        help="Syncs: names, globs ('hubspot_*'), tag:NAME, +NAME (with what it depends on).",
        show_default=False,
    ),
]
Select = Annotated[
    list[str] | None,
    typer.Option(
        "--select", "-s", metavar="SELECTOR", help="Same as a SELECTOR argument (repeatable).", show_default=False
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        "-x",
        metavar="SELECTOR",
        help="Leave out these syncs; same forms (repeatable).",
        show_default=False,
    ),
]
