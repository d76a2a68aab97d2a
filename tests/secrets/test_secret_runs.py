"""Acceptance: syncs whose credentials live in Vault (OpenBao) and AWS Secrets Manager (moto) run end to end against
the simulators, pick up a rotation mid-run with one re-read, and fail `auth` with one line when the re-read value is
refused too. Every output, log, state table and alert of these runs is scanned for the secret values.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from secret_servers import ROOT_TOKEN, Bao, Moto
from typer.testing import CliRunner

from activate.cli.app import app
from activate.http.caller import forget_callers
from activate.testing.hubspot import HubSpotSimulator
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_callers() -> Iterator[None]:
    forget_callers()
    yield
    forget_callers()


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch, bao: Bao, tmp_path: Path) -> None:
    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.vault-token of the machine's user


def hook_project(root: Path, bao: Bao, sim: WebhookSimulator, rows: int, *, path: str) -> ScratchProject:
    project = ScratchProject(root)
    project.people(rows)
    project.settings["secrets"] = {"vault": {"url": bao.url}}
    project.add_connection(
        "hooks",
        {
            "type": "webhook",
            "url": sim.url,
            "headers": {"Authorization": f"Bearer ${{vault:secret/data/{path}#token}}"},
            "rate_limit": {"requests": 1000, "per_seconds": 1},
        },
    )
    project.add_sync(
        "people_hook",
        {"connection": "hooks", "object": "people", "mapping": {"email": "email", "score": "score"}},
    )
    return project


def state_dump(project: ScratchProject) -> str:
    """Every row of every state table, as text."""
    import duckdb

    con = duckdb.connect(str(project.root / ".activate" / "state.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        return "\n".join(str(con.execute(f'select * from "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def assert_nowhere(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text


@pytest.mark.usefixtures("vault_env")
def test_webhook_header_from_vault_runs_end_to_end(tmp_path: Path, bao: Bao) -> None:
    bao.put("hook-e2e", token="hook-token-e2e-1")
    with WebhookSimulator(token="hook-token-e2e-1") as sim:
        project = hook_project(tmp_path, bao, sim, 250, path="hook-e2e")
        reads = bao.secret_reads("hook-e2e")
        result = runner.invoke(app, ["run", "people_hook", "--project-dir", str(tmp_path), "--json"])
        assert result.exit_code == 0, result.output
        assert len(sim.rows("people")) == 250
        assert sim.refused == []
    assert bao.secret_reads("hook-e2e") == reads + 1  # fetched once, when the connection opened
    assert_nowhere(["hook-token-e2e-1"], result.output, state_dump(project))


class Rotator:
    """Rotates the Vault secret, then the token the endpoint accepts, once `after` rows have been applied."""

    def __init__(self, bao: Bao, sim: WebhookSimulator, path: str, *, after: int, vault: str, endpoint: str) -> None:
        self.done = threading.Event()
        self._args = (bao, sim, path, after, vault, endpoint)
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Rotator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self._thread.join()

    def _watch(self) -> None:
        bao, sim, path, after, vault, endpoint = self._args
        while not self.done.is_set():
            if sum(sim.applied.values()) >= after:
                bao.put(path, token=vault)  # the secret first, then the endpoint, as a rotation job does
                sim.token = endpoint
                self.done.set()
            self.done.wait(0.002)


@pytest.mark.slow
@pytest.mark.usefixtures("vault_env")
def test_rotation_during_a_run_is_picked_up_with_one_reread(
    tmp_path: Path, bao: Bao, caplog: pytest.LogCaptureFixture
) -> None:
    bao.put("hook-rotating", token="old-token-1111")
    with WebhookSimulator(token="old-token-1111") as sim:
        project = hook_project(tmp_path, bao, sim, 5000, path="hook-rotating")
        sim.faults.latency = 0.01  # batches stay in flight long enough for the rotation to catch some
        reads = bao.secret_reads("hook-rotating")
        rotation = Rotator(bao, sim, "hook-rotating", after=1000, vault="new-token-2222", endpoint="new-token-2222")
        with caplog.at_level(logging.INFO, logger="activate"), rotation:
            summary = project.run("people_hook")

        assert summary.status == "succeeded", summary.error
        assert summary.rows_succeeded == 5000
        assert sorted(sim.applied.values()) == [1] * 5000  # every row applied once: nothing lost, nothing doubled
        # one refused request per batch in flight at the rotation, never a second for the same batch
        assert 1 <= len(sim.refused) <= 4
        assert len(set(sim.refused)) == len(sim.refused)
    assert bao.secret_reads("hook-rotating") == reads + 2  # opened once, re-read once
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert_nowhere(["old-token-1111", "new-token-2222"], logs, str(summary.to_dict()), state_dump(project))


@pytest.mark.usefixtures("vault_env")
def test_rotation_to_a_refused_value_fails_auth_after_one_reread(tmp_path: Path, bao: Bao) -> None:
    bao.put("hook-bad", token="stale-token-3333")
    with WebhookSimulator(token="stale-token-3333") as sim, WebhookSimulator() as alerts:
        project = hook_project(tmp_path, bao, sim, 2000, path="hook-bad")
        project.add_connection("alerts_hook", {"type": "webhook", "url": alerts.url})
        project.settings["alerts"] = [{"connection": "alerts_hook", "on": ["failed"]}]
        project.write()
        sim.faults.latency = 0.01
        reads = bao.secret_reads("hook-bad")
        # rotated in Vault, but the endpoint now wants yet another token
        rotation = Rotator(bao, sim, "hook-bad", after=500, vault="wrong-token-4444", endpoint="endpoint-token-5555")
        with rotation:
            result = runner.invoke(
                app, ["run", "people_hook", "--project-dir", str(tmp_path), "--json", "--log-format", "json"]
            )
        assert result.exit_code == 1, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["status"] == "failed"
        assert summary["failure_kind"] == "auth"  # typed: alerts, metrics and exit codes read this, not the text
        # opened with the old value, refused, re-read once (the new value), refused again: one line, no loop
        assert bao.secret_reads("hook-bad") == reads + 2
        assert len(set(sim.refused)) == len(sim.refused) or len(sim.refused) <= 2 * 4
        assert len(sim.refused) <= 2 * 4
        assert summary["error"] == (
            "AUTH_FAILED: connection 'hooks': ${vault:secret/data/hook-bad#token} (activate.yml:14:34) "
            "refused after re-reading the secret; the new value was refused too: HTTP 401: invalid or expired token"
        )
        assert summary["rows_succeeded"] >= 500
        alert = json.dumps(alerts.records)
        assert "refused after re-reading the secret" in alert
        assert '"event": "run.finished"' in result.stderr  # the JSON logs, scanned below
    assert_nowhere(["stale-token-3333", "wrong-token-4444"], result.stdout, result.stderr, state_dump(project), alert)


@pytest.mark.usefixtures("vault_env")
def test_an_unchanged_secret_is_not_retried(tmp_path: Path, bao: Bao) -> None:
    bao.put("hook-same", token="same-token-6666")
    with WebhookSimulator(token="another-token-7777") as sim:
        project = hook_project(tmp_path, bao, sim, 300, path="hook-same")
        summary = project.run("people_hook")
        assert summary.status == "failed"
        assert summary.failure_kind == "auth"
        assert summary.error.endswith(
            "refused after re-reading the secret; the secret is unchanged (rotate it in the provider, or fix its grant)"
        )
        assert len(set(sim.refused)) == len(sim.refused)  # no batch sent twice with the same refused token


@pytest.mark.usefixtures("aws_env")
def test_hubspot_token_from_aws_secrets_manager_runs_end_to_end_and_rotates(tmp_path: Path, moto: Moto) -> None:
    moto.put("prod/hubspot", json.dumps({"token": "pat-aws-token-1"}))
    with HubSpotSimulator(token="pat-aws-token-1") as sim:
        project = ScratchProject(tmp_path)
        project.people(300)
        project.settings["secrets"] = {"aws-sm": {"region": "eu-west-1", "endpoint_url": moto.url}}
        project.add_connection(
            "crm", {"type": "hubspot", "access_token": "${aws-sm:prod/hubspot#token}", "base_url": sim.url}
        )
        project.add_sync(
            "people_crm",
            {
                "connection": "crm",
                "object": "contacts",
                "match": "email",
                "mapping": {"email": "email", "firstname": "first_name"},
            },
        )
        first = project.run("people_crm")
        assert first.status == "succeeded", first.error
        assert len(sim.records("contacts")) == 300

        # rotated between two runs: the next run reads the new value when it opens the connection
        moto.put("prod/hubspot", json.dumps({"token": "pat-aws-token-2"}))
        sim.tokens.add_private_app_token("pat-aws-token-2")
        sim.tokens.revoke("pat-aws-token-1")
        project.execute("update people set first_name = 'Renamed' || id")
        second = project.run("people_crm")
        assert second.status == "succeeded", second.error
        assert [call for call in sim.log if call.status == 401] == []
    assert_nowhere(["pat-aws-token-1", "pat-aws-token-2"], str(first.to_dict()), state_dump(project))
