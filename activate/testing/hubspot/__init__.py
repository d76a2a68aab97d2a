"""A faithful local HubSpot: the CRM v3 API over real HTTP, for tests, the demo and users' own CI.

`HubSpotSimulator` runs in-process on an ephemeral port; `serve(port)` runs it standalone
(`activate simulate hubspot --port N`); `HubSpotConformanceTarget` lets the shared destination conformance suite
drive it.
"""

from __future__ import annotations

from activate.testing.hubspot.auth import OAuthClient
from activate.testing.hubspot.conformance import HubSpotConformanceTarget
from activate.testing.hubspot.schema import PropertyDef
from activate.testing.hubspot.simulator import DEFAULT_OAUTH, DEFAULT_TOKEN, TIER_LIMITS, HubSpotSimulator, serve

__all__ = [
    "DEFAULT_OAUTH",
    "DEFAULT_TOKEN",
    "TIER_LIMITS",
    "HubSpotConformanceTarget",
    "HubSpotSimulator",
    "OAuthClient",
    "PropertyDef",
    "serve",
]
