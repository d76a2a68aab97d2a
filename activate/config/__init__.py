"""Project configuration: `activate.yml` and `syncs/*.yml` loaded into validated models, every error positioned.

project = load_project("my-project")        # raises ConfigError with every issue of every file
sync = project.sync("hubspot_contacts")     # UsageError naming the closest sync when unknown
sync.where("destination.mapping.email")     # 'syncs/hubspot_contacts.yml:14:5'
project.secrets.mask(text)                  # every secret value of the project -> ***
"""

from __future__ import annotations

from activate.config.loader import load_project
from activate.config.models import (
    ConnectionSpec,
    CountOrPercent,
    DestinationSpec,
    FieldMapping,
    GuardrailSpec,
    MessageSpec,
    ProjectSpec,
    RateLimitSpec,
    SourceSpec,
    StateSpec,
    SyncMode,
    SyncSpec,
    TargetSpec,
)
from activate.config.positions import Positions
from activate.config.project import LoadedSync, Project
from activate.config.secrets import SecretMasker
from activate.config.templates import columns_used, is_template

__all__ = [
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
