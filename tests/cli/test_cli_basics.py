"""The CLI's contract: exit code 2 with file:line:col for every broken file, a fast --help, init scaffolds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from activate.cli.app import app

runner = CliRunner()


def test_help_imports_no_heavy_module() -> None:
    heavy = ("duckdb", "pyarrow", "sqlalchemy", "hubspot", "simple_salesforce", "slack_sdk", "snowflake", "pandas")
    code = (
        "import sys\n"
        "from activate.cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(app, ['--help'])\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_sync_is_a_usage_error_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "activate.yml").write_text("connections:\n  warehouse: {type: duckdb, path: w.duckdb}\n")
    result = runner.invoke(app, ["plan", "nope", "--project-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown sync 'nope'" in result.output
