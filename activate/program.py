"""The name of the command the user typed, for every message that tells them what to run next.

`activate-etl` (the console script), `python -m activate`, or `activate` where an image aliases it: a hint must
name a command that exists on this machine, so it is read from how this process was started (`sys.argv[0]`).
"""

from __future__ import annotations

import sys
from pathlib import Path

CONSOLE_SCRIPT = "activate-etl"
MODULE = "python -m activate"


def program_name(argv0: str | None = None) -> str:
    """`activate-etl`, `activate` (an alias on PATH) or `python -m activate` (the module, and any other host such
    as a test runner or an orchestrator calling the Python API)."""
    name = Path(argv0 if argv0 is not None else (sys.argv[0] if sys.argv else "")).name
    if name in (CONSOLE_SCRIPT, f"{CONSOLE_SCRIPT}.exe", f"{CONSOLE_SCRIPT}-script.py"):
        return CONSOLE_SCRIPT
    if name == "activate":
        return "activate"
    return MODULE


def command(args: str) -> str:
    """`activate-etl runs` / `python -m activate runs`: a full command line to suggest."""
    return f"{program_name()} {args}"
