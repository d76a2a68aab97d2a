"""`activate ui`: a local, read-only web audit over the state store, with plots of run history.

Pages (all GET): `/` the syncs overview (last run, status, freshness, next run); `/syncs/NAME` a sync's run history
with plots over time (rows by status, API calls, throttled seconds, duration); `/runs/RUN_ID` a run's row results,
filtered by status, error code and key, paginated; `/syncs/NAME/rows/KEY` one row's state and every result it had.
Charts are server-side SVG, so the page needs nothing from the network.
"""

from __future__ import annotations

from activate.ui.pages import Pages
from activate.ui.server import AuditServer

__all__ = ["AuditServer", "Pages"]
