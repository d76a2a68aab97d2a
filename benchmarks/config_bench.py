"""How fast hostile project files are refused (issue 17, acceptance 1).

Measures, in this process, `activate validate` (through Typer's CliRunner, the same code path as the console
script minus interpreter start-up) on:

- the anchor: the valid example project of `tests/config/example`, run before and after, the mean;
- every file of the broken corpus (`tests/config/broken`), each the worst of three runs;
- a 9 x 9 alias bomb and a 10 x 10 one (each 10^9 values if expanded);
- a 20 MB sync file (refused by size) and a file just under the 1 MB limit (parsed in full).

Prints each time, the slowest corpus file, ratios to the anchor, and the load average. Targets: every corpus file
<= 2 s, the alias bombs < 1 s, the 20 MB file "in seconds".

    python benchmarks/config_bench.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "config" / "broken"
EXAMPLE = ROOT / "tests" / "config" / "example"
sys.path[:0] = [str(ROOT / "tests" / "config" / "plugins"), str(ROOT / "tests" / "config")]

from tests_config_support import EXAMPLE_ENV, make_warehouse  # noqa: E402

from activate.cli.app import app  # noqa: E402
from activate.destinations import registry  # noqa: E402

runner = CliRunner()
SYNC = "source: {connection: warehouse, table: customers, primary_key: id}\n"
SYNC += "destination: {connection: crm, object: contacts, match: email, mapping: {email: email}}\n"


def timed(action: Callable[[], object], repeat: int = 3) -> float:
    worst = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        worst = max(worst, time.perf_counter() - started)
    return worst


def validate(root: Path, env: dict[str, str] | None = None) -> int:
    return runner.invoke(app, ["validate", "-p", str(root)], env=env or {}).exit_code


def project_with(case: Path, workdir: Path) -> Path:
    root = Path(tempfile.mkdtemp(dir=workdir))
    if case.stem.startswith("project_"):
        shutil.copy(case, root / "activate.yml")
        return root
    shutil.copy(BROKEN / "base_activate.yml", root / "activate.yml")
    (root / "syncs").mkdir()
    shutil.copy(case, root / "syncs" / case.name)
    if case.stem.startswith("columns_"):
        make_warehouse(root)
    return root


def bomb(width: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, width)]
    return SYNC + "\n".join(lines) + "\n"


def main() -> None:
    registry.refresh()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        example = workdir / "example"
        shutil.copytree(EXAMPLE, example)
        anchor_before = timed(lambda: validate(example, EXAMPLE_ENV))

        results: list[tuple[str, float]] = []
        for case in sorted(p for p in BROKEN.glob("*.yml") if p.name != "base_activate.yml"):
            root = project_with(case, workdir)
            assert validate(root) == 2, case.name
            results.append((case.stem, timed(lambda root=root: validate(root))))  # type: ignore[misc]

        extra: dict[str, str] = {
            "alias bomb 9x9": bomb(9),
            "alias bomb 10x10": bomb(10),
            "20 MB file": SYNC + ("# " + "x" * 97 + "\n") * 200_000,
            "1 MB file": SYNC + ("# " + "x" * 97 + "\n") * 10_400,
        }
        for name, text in extra.items():
            root = project_with(BROKEN / "mapping_number.yml", workdir)
            (root / "syncs" / "mapping_number.yml").write_text(text)
            results.append((name, timed(lambda root=root: validate(root), repeat=1)))
        anchor = (anchor_before + timed(lambda: validate(example, EXAMPLE_ENV))) / 2

    load = os.getloadavg()
    corpus = [r for r in results if r[0] not in extra]
    slowest = max(corpus, key=lambda r: r[1])
    print(f"anchor (valid example project): {anchor * 1000:.0f} ms")
    for name, seconds in results:
        print(f"  {name:32s} {seconds * 1000:8.0f} ms   {seconds / anchor:6.1f}x anchor")
    print(f"corpus files: {len(corpus)}; slowest {slowest[0]} {slowest[1] * 1000:.0f} ms (target <= 2000 ms)")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
