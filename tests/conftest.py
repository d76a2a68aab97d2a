"""Fixtures shared by every test directory: services (Postgres, Redis) and throwaway projects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activate.testing.services import fresh_postgres_database, redis_client_or_skip

# Modules whose tests run real processes, servers or whole syncs (measured with --durations: seconds each, not
# milliseconds). Everything else, unless marked slow/postgres/redis, is `fast`: `pytest -m fast` is the quick loop.
SLOW_MODULES = frozenset(
    {
        "tests/cli/test_demo.py",
        "tests/cli/test_error_boundary.py",
        "tests/cli/test_guardrail_approval.py",
        "tests/cli/test_hygiene.py",
        "tests/cli/test_moved_state.py",
        "tests/cli/test_selection.py",
        "tests/cli/test_targets.py",
        "tests/destinations/hubspot/test_hubspot_associations_engine.py",
        "tests/destinations/hubspot/test_hubspot_conformance.py",
        "tests/destinations/hubspot/test_hubspot_engine.py",
        "tests/destinations/salesforce/test_bulk.py",
        "tests/destinations/salesforce/test_salesforce_conformance.py",
        "tests/destinations/salesforce/test_salesforce_lookups.py",
        "tests/destinations/salesforce/test_salesforce_runs.py",
        "tests/destinations/slack/test_slack_conformance.py",
        "tests/destinations/slack/test_slack_end_to_end.py",
        "tests/destinations/test_webhook_conformance.py",
        "tests/diff/test_diff_property.py",
        "tests/diff/test_native_lifecycle.py",
        "tests/diff/test_native_scale.py",
        "tests/diff/test_workspace.py",
        "tests/engine/test_graceful_stop.py",
        "tests/fields/test_cleared_fields_guardrail.py",
        "tests/fields/test_diff_cli.py",
        "tests/fields/test_field_rules_runs.py",
        "tests/fields/test_field_state_stores.py",
        "tests/fields/test_partial_updates_hubspot.py",
        "tests/engine/test_systemic_failures.py",
        "tests/http/test_redis_limiter.py",
        "tests/revert/test_revert.py",
        "tests/integrations/test_airflow.py",
        "tests/integrations/test_dagster.py",
        "tests/integrations/test_dbt.py",
        "tests/secrets/test_secret_runs.py",
        "tests/secrets/test_snowflake_rotation.py",
        "tests/secrets/test_warehouse_rotation.py",
        "tests/sources/test_duckdb_parallel.py",
        "tests/test_alerts.py",
        "tests/test_end_to_end.py",
        "tests/test_logs.py",
        "tests/test_orchestrators.py",
        "tests/test_otlp_export.py",
        "tests/test_run_options.py",
        "tests/test_schedule_observability.py",
        "tests/test_scheduler.py",
        "tests/test_scheduler_processes.py",
        "tests/test_sources_and_budget.py",
        "tests/test_status_and_metrics.py",
        "tests/ui/test_browser.py",
        "tests/ui/test_pages.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        elif not any(item.get_closest_marker(name) for name in ("slow", "postgres", "redis")):
            item.add_marker(pytest.mark.fast)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (skips on a laptop without Postgres, fails in CI)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def redis_client() -> object:
    """A connected Redis client (skips on a laptop without Redis, fails in CI)."""
    return redis_client_or_skip()
