"""Side virtualenvs for the integration tests (a helper module, not a conftest: `tests/config` imports its own
`conftest` by name, which a second conftest.py on sys.path would shadow).

Airflow and dbt pin versions that conflict with the dev tools, so `.ci/side-venv NAME` builds each its own virtualenv;
`side_venv` finds it by the key the script computes (sha256 of the requirements file followed by `MAJOR.MINOR\n`,
16 hex digits). Outside CI a missing venv skips the test with the command that builds it; under CI it fails.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def side_venv(name: str) -> Path:
    """The complete venv for `.ci/<name>-requirements.txt`, or skip (fail in CI) saying how to build it."""
    requirements = (ROOT / ".ci" / f"{name}-requirements.txt").read_bytes()
    version = f"{sys.version_info.major}.{sys.version_info.minor}\n".encode()
    key = hashlib.sha256(requirements + version).hexdigest()[:16]
    cache = Path(os.environ.get("ACTIVATE_VENV_CACHE") or Path.home() / ".cache" / "activate-ci")
    venv = cache / f"{name}-{key}"
    if not (venv / ".complete").is_file():
        message = f"the {name} virtualenv {venv} is missing; build it with: bash .ci/side-venv {name}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (.ci/run does)", pytrace=False)
        pytest.skip(message)
    return venv


def venv_env(venv: Path) -> dict[str, str]:
    """The environment for a subprocess in `venv`: its bin first on PATH, this checkout first on PYTHONPATH (the
    venv's editable install may point at another clone), no ACTIVATE_* leaking from the test's own environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTIVATE_", "VIRTUAL_ENV", "PYTHONHOME"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["VIRTUAL_ENV"] = str(venv)
    return env
