"""docker/Dockerfile and docker/compose.yml, checked without a Docker engine (this machine has none).

What can be checked from the files: the image runs as a non-root user whose directories are created and owned
before `USER`, its entrypoint is a console script of this package, the metrics endpoint listens on every interface
in the image, the compose services pass valid arguments, share the simulator's certificate through a volume, publish
the metrics port and have health checks. What cannot: that the image builds and the stack comes up (README, Docker).
"""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from ruamel.yaml import YAML

from activate.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = YAML(typ="safe").load((ROOT / "docker" / "compose.yml").read_text())


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.split("   #", 1)[0].strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


STEPS = instructions()


def index_of(keyword: str, pattern: str = "") -> int:
    return next(i for i, (k, args) in enumerate(STEPS) if k == keyword and re.search(pattern, args))


def test_image_runs_as_a_non_root_user_that_owns_its_directories() -> None:
    [user] = [args for k, args in STEPS if k == "USER"]
    assert user.split(":")[0] == "10001"
    user_at = index_of("USER")
    creates = index_of("RUN", r"useradd .*--uid 10001")
    owns = index_of("RUN", r"chown 10001:10001 /project /certs")
    assert creates <= owns < user_at, "the user and its directories exist before USER"
    assert "mkdir -p /project /certs" in STEPS[owns][1]
    workdirs = [args for k, args in STEPS if k == "WORKDIR"]
    assert workdirs[-1] == "/project"
    assert index_of("WORKDIR", "^/project$") > owns, "WORKDIR /project does not create a root-owned directory"
    assert ("ENV", "ACTIVATE_METRICS_HOST=0.0.0.0") in STEPS
    assert ("EXPOSE", "9464") in STEPS


def test_image_copies_what_exists_and_its_entrypoint_is_a_console_script() -> None:
    for keyword, args in STEPS:
        if keyword == "COPY":
            *sources, _ = args.split()
            assert all((ROOT / source).exists() for source in sources), args
    [entrypoint] = [args for k, args in STEPS if k == "ENTRYPOINT"]
    [script] = shlex.split(entrypoint.strip("[]").replace(",", " "))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts[script].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    install = STEPS[index_of("RUN", r"pip install")][1]
    extras = re.search(r"\.\[([a-z,]+)\]", install)
    assert extras is not None
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.group(1).split(",")) <= set(declared)


def parse_command(arguments: list[str]) -> dict[str, Any]:
    """The parameters the CLI parses from a container's arguments (raises on an unknown option)."""
    group: Any = typer.main.get_command(app)
    parent = group.make_context("activate-etl", list(arguments))
    command = group.get_command(parent, arguments[0])
    assert command is not None, arguments
    return dict(command.make_context(arguments[0], arguments[1:], parent=parent).params)


@pytest.mark.parametrize("service", ["simulators", "init", "scheduler"])
def test_compose_services_run_valid_commands_from_this_image(service: str) -> None:
    spec = COMPOSE["services"][service]
    assert (ROOT / "docker" / spec["build"]["context"] / spec["build"]["dockerfile"]).resolve() == DOCKERFILE
    parse_command(spec["command"])


def test_compose_shares_certs_and_serves_metrics_with_health_checks() -> None:
    services = COMPOSE["services"]
    simulators, scheduler = services["simulators"], services["scheduler"]
    cert_dir = parse_command(simulators["command"])["cert_dir"]
    assert f"certs:{cert_dir}" in simulators["volumes"]
    assert any(v.startswith(f"certs:{cert_dir}") for v in scheduler["volumes"])
    assert scheduler["environment"]["SALESFORCE_CA_BUNDLE"].startswith(f"{cert_dir}/")
    assert str(cert_dir) in STEPS[index_of("RUN", "chown")][1], "the certs volume starts owned by the image's user"
    params = parse_command(scheduler["command"])
    assert params["metrics_host"] == "0.0.0.0"
    assert f"{params['metrics_port']}:{params['metrics_port']}" in simulators["ports"]  # shared network namespace
    assert scheduler["network_mode"] == "service:simulators"
    assert "/healthz" in " ".join(scheduler["healthcheck"]["test"])
    assert f":{params['metrics_port']}/" in " ".join(scheduler["healthcheck"]["test"])
    for name, condition in scheduler["depends_on"].items():
        if condition["condition"] == "service_healthy":
            assert "healthcheck" in services[name], name
    assert set(COMPOSE["volumes"]) == {"project", "certs"}
