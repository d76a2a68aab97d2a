"""The public API of activate.config is exactly `__all__`."""

from __future__ import annotations

import activate.config as config


def test_public_api() -> None:
    assert sorted(config.__all__) == [
        "ConnectionSpec",
        "CountOrPercent",
        "DestinationSpec",
        "FieldMapping",
        "GuardrailSpec",
        "LoadedSync",
        "MessageSpec",
        "Positions",
        "Project",
        "ProjectSpec",
        "RateLimitSpec",
        "SecretMasker",
        "SourceSpec",
        "StateSpec",
        "SyncMode",
        "SyncSpec",
        "TargetSpec",
        "columns_used",
        "is_template",
        "load_project",
    ]
    for name in config.__all__:
        assert getattr(config, name) is not None
    public = {n for n in vars(config) if not n.startswith("_")} - set(config.__all__)
    assert public <= {
        "annotations",
        "checks",
        "document",
        "env",
        "hints",
        "loader",
        "models",
        "positions",
        "project",
        "schema",
        "secrets",
        "targets",
        "templates",
        "validation",
        "yaml_limits",
    }
