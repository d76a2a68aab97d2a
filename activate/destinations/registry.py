"""Destination plugins by connection `type`: the built-ins, plus any package's `activate.destinations` entry points.

Only the plugin object is imported here (a config model and capabilities); the vendor SDK is imported when a
writer is created, so `activate --help` and `activate validate` stay fast.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import cast

from activate.destinations.base import DestinationPlugin

ENTRY_POINT_GROUP = "activate.destinations"

_BUILTIN: dict[str, str] = {
    "webhook": "activate.destinations.webhook:plugin",
    "hubspot": "activate.destinations.hubspot:plugin",
    "salesforce": "activate.destinations.salesforce:plugin",
    "slack": "activate.destinations.slack:plugin",
}


def _load(target: str) -> DestinationPlugin:
    module_name, _, attr = target.partition(":")
    return cast(DestinationPlugin, getattr(importlib.import_module(module_name), attr))


@cache
def _entry_point_targets() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def destination_types() -> list[str]:
    """Every destination type this installation knows."""
    return sorted(set(_BUILTIN) | set(_entry_point_targets()))


def destination_plugin(type_name: str) -> DestinationPlugin | None:
    """The plugin for a connection type, or None when no destination has that type."""
    target = _BUILTIN.get(type_name) or _entry_point_targets().get(type_name)
    if target is None:
        return None
    try:
        return _load(target)
    except ModuleNotFoundError as exc:
        if exc.name and target.startswith(exc.name):
            return None  # the plugin's package is not installed
        raise  # a broken plugin: the config loader reports why, at the connection's `type:`


def refresh() -> None:
    """Forget the cached entry points (after installing a plugin distribution at run time, e.g. in tests)."""
    _entry_point_targets.cache_clear()
