"""The project and sync files as pydantic models (DESIGN §2). Frozen, `extra="forbid"`.

Connection models are not listed here: each source and destination owns its connection model (a `type:`
discriminator), and the loader looks the type up in the registries, so a third-party destination brings its own.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from activate.config.templates import is_template
from activate.secrets.config import SecretsSpec

SyncMode = Literal["upsert", "update", "insert", "mirror"]
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors and parsed config never changes."""

    # attribute docstrings become field descriptions: the generated reference (`activate.docgen`) shows them
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CountOrPercent(StrictModel):
    """A threshold given as a count (`50`) or a share of a total (`"5%"`)."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, value: Any) -> CountOrPercent | None:
        if value is None or isinstance(value, CountOrPercent):
            return value
        if isinstance(value, bool):
            raise ValueError("expected a count like 50 or a percentage like '5%'")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("must not be negative")
            return cls(count=value)
        if isinstance(value, str):
            match = _PERCENT.match(value)
            if match:
                percent = float(match.group(1))
                if percent > 100:
                    raise ValueError(f"a percentage is at most 100%, got {value!r}")
                return cls(percent=percent)
            if value.strip().isdigit():
                return cls(count=int(value))
        raise ValueError(f"expected a count like 50 or a percentage like '5%', got {value!r}")

    def of(self, total: int) -> float:
        """The threshold as a count, given the total it is a share of."""
        if self.count is not None:
            return float(self.count)
        return total * (self.percent or 0.0) / 100.0

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g}%"


class RateLimitSpec(StrictModel):
    """A connection's override of its vendor's default limits.

    `daily_budget` caps the API calls a run may spend in a day: a count, or a percentage of the daily allocation the
    vendor reports. `backend: redis` shares the limiter across processes and machines.
    """

    requests: int | None = Field(default=None, gt=0)
    """Requests allowed per `per_seconds` window (the vendor default when absent)."""
    per_seconds: float | None = Field(default=None, gt=0)
    """The window of `requests`, in seconds."""
    max_concurrency: int | None = Field(default=None, gt=0)
    """Batches in flight at once."""
    daily_budget: CountOrPercent | None = None
    """API calls a run may spend per day: a count, or a percentage of the vendor-reported allocation."""
    backend: Literal["memory", "redis"] = "memory"
    """`redis` shares the limiter across processes and machines."""
    url: str | None = None
    """The Redis URL of `backend: redis`."""

    @field_validator("daily_budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> CountOrPercent | None:
        return CountOrPercent.parse(value)

    @model_validator(mode="after")
    def _redis_needs_url(self) -> RateLimitSpec:
        if self.backend == "redis" and not self.url:
            raise ValueError("backend 'redis' needs url: redis://host:6379/0")
        return self


class ConnectionSpec(StrictModel):
    """Base of every connection model. `type` selects the model.

    `_provider_credentials` is set on a connection opened with provider secrets (`activate.secrets.connections`):
    the writer's refresh hook re-reads them through it after a refusal.
    """

    type: str
    _provider_credentials: Any = PrivateAttr(default=None)


class StateSpec(StrictModel):
    """Where the state tables live. `schema_` applies to warehouse-native state."""

    url: str = "duckdb:///.activate/state.duckdb"
    """Any SQLAlchemy URL of the state store (DuckDB file, PostgreSQL, SQLite); relative paths from the project."""
    schema_: str | None = Field(default=None, alias="schema")
    """Schema of warehouse-native state (`state: warehouse` syncs; default `activate`)."""
    row_results_retention_days: int | None = Field(default=90, gt=0)
    """Row results older than this are pruned after each run (null keeps them forever)."""


AlertOutcome = Literal["failed", "partial", "guardrail", "error_rate"]
DEFAULT_ALERT_ON: tuple[AlertOutcome, ...] = ("failed", "guardrail", "error_rate")


class AlertSpec(StrictModel):
    """One `alerts:` entry: post a message through a Slack or webhook connection after a run whose outcome is in
    `on`. `channel` is the Slack conversation (ignored by webhooks, which post to `<url>/alerts`)."""

    connection: str
    """A Slack or webhook connection."""
    channel: str | None = None
    """The Slack conversation (webhooks post to `<url>/alerts`)."""
    on: list[AlertOutcome] = Field(default_factory=lambda: list(DEFAULT_ALERT_ON))
    """Run outcomes that send an alert."""


class TargetSpec(StrictModel):
    """One `targets:` entry (an environment such as dev or prod): merged over the project when chosen.

    `connections` maps a connection name to the keys it overrides (mappings merge key by key; another `type:`
    replaces the connection); `state` overrides the state store's settings, e.g. its `url`.
    """

    connections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Connection name -> the keys this target overrides (another `type:` replaces the connection)."""
    state: StateSpec | None = None
    """State store settings for this target, e.g. `{url: ...}`."""


class DbtSpec(StrictModel):
    """`dbt:`: the dbt project whose models syncs read (`source: {dbt: MODEL}`, `ref('MODEL')` in a query), through
    `<project_dir>/<target_path>/manifest.json`; `project_dir` is relative to the activate project."""

    project_dir: str = "."
    target_path: str = "target"


class ProjectSpec(StrictModel):
    """`activate.yml`."""

    state: StateSpec = StateSpec()
    dbt: DbtSpec | None = None
    timezone: str = "UTC"
    """IANA time zone the `schedule:` crons are read in."""
    connections: dict[str, ConnectionSpec] = Field(default_factory=dict)
    """Named warehouse and destination connections; each takes `type:` (see Connection types)."""
    alerts: list[AlertSpec] = Field(default_factory=list)
    """Messages posted after runs with the chosen outcomes."""
    secrets: SecretsSpec = SecretsSpec()
    targets: dict[str, TargetSpec] = Field(default_factory=dict)
    """Per-environment overrides, chosen by `--target` / ACTIVATE_TARGET / `default_target`."""
    default_target: str | None = None
    """The target used when none is asked for."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone '{value}' (an IANA name such as 'UTC' or 'Europe/Paris')") from None
        return value


class SourceSpec(StrictModel):
    """Where the rows come from: exactly one of `query`, `table`, `file` or `dbt` (a dbt model's name)."""

    connection: str
    """The warehouse connection the query runs on."""
    query: str | None = None
    """The SQL whose rows are synced (one of query, table, file)."""
    table: str | None = None
    """A table or view read whole."""
    file: str | None = None
    """A .sql file holding the query, relative to the project."""
    dbt: str | None = None
    """A dbt model whose relation is read (`source: {dbt: MODEL}`)."""
    primary_key: str | list[str]
    """The column (or columns) identifying a row across runs."""

    @model_validator(mode="after")
    def _one_of(self) -> SourceSpec:
        given = [k for k in ("query", "table", "file", "dbt") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of query, table, file or dbt" + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @field_validator("primary_key")
    @classmethod
    def _non_empty_key(cls, value: str | list[str]) -> str | list[str]:
        if not value:
            raise ValueError("primary_key must name at least one column")
        return value

    @property
    def key_columns(self) -> list[str]:
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)


class MessageSpec(StrictModel):
    """A Slack message rendered per row: Jinja `text` and optional Block Kit `blocks` (a list or a JSON template)."""

    text: str
    """Jinja template of the message text (over `row`)."""
    blocks: list[Any] | str | None = None
    """Block Kit blocks: a list, or a JSON template."""


class AssociationSpec(StrictModel):
    """One `destination.associations` entry (HubSpot): link each written record to records another sync writes.

    `key` is the source column holding the associated row's key in sync `sync` (a list column links several); the
    other sync's state maps that key to the HubSpot record id. `type` is the association type id (HubSpot's default
    type for the pair when absent); `category` is `USER_DEFINED` for custom labels.
    """

    to: str
    """The HubSpot object type linked to."""
    sync: str
    """The sync whose state maps keys to those records."""
    key: str
    """The source column holding the associated row key (a list column links several)."""
    type: int | None = Field(default=None, gt=0)
    """Association type id (HubSpot default for the pair when absent)."""
    category: Literal["HUBSPOT_DEFINED", "USER_DEFINED"] = "HUBSPOT_DEFINED"
    """`USER_DEFINED` for custom labels."""

    @model_validator(mode="after")
    def _user_defined_needs_type(self) -> AssociationSpec:
        if self.category == "USER_DEFINED" and self.type is None:
            raise ValueError("a USER_DEFINED association needs its type id (the label's typeId)")
        return self


class FieldMapping(StrictModel):
    """The long form of a mapping value: where one destination field comes from, and when it is written.

    Exactly one of `column` (a source column) and `template` (a Jinja template over `row`, rendered like a short-form
    one; text without markup is a constant). `on: create` writes the field only when the record is created, never in
    an update (a lead source set once); `nulls: skip` leaves the field out of a write whose value is null, so a null
    never clears what the destination holds. The short form `field: value` is `{column: value}`, or
    `{template: value}` when the value holds Jinja markup (`FieldMapping.of`).
    """

    column: str | None = None
    """The source column the field is written from (one of column, template)."""
    template: str | None = None
    """A Jinja template over `row` (one of column, template); text without markup is a constant."""
    on: Literal["always", "create"] = "always"
    """`create`: written only when the record is created, never by an update."""
    nulls: Literal["send", "skip"] = "send"
    """`skip`: a null is left out of the write, so it never clears the destination value."""

    @classmethod
    def of(cls, value: str | FieldMapping) -> FieldMapping:
        """A mapping value in the long form. A short-form string names a column unless it holds Jinja markup."""
        if isinstance(value, FieldMapping):
            return value
        # constructed unvalidated: a blank short-form value is reported by the config checks, with its position
        if is_template(value):
            return cls.model_construct(template=value)
        return cls.model_construct(column=value.strip())

    @property
    def source(self) -> str:
        """The column or the template text."""
        return self.column if self.column is not None else self.template or ""

    @property
    def short_form(self) -> str | None:
        """The short-form string that means exactly this, or None (a rule is set, or the template has no markup)."""
        if (self.on, self.nulls) != ("always", "send"):
            return None
        if self.column is not None:
            return self.column
        return self.template if self.template is not None and is_template(self.template) else None

    @field_validator("column")
    @classmethod
    def _column_named(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("an empty column names no source column: name a column of the query")
        if is_template(value):
            raise ValueError("a column name holds no Jinja markup: write the template as template: instead")
        return value.strip()

    @field_validator("template")
    @classmethod
    def _template_given(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError('an empty template renders nothing: write one like "{{ row.x }}", or use column:')
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FieldMapping:
        if self.column is not None and self.template is not None:
            raise ValueError("give exactly one of column or template (got both): remove one")
        if self.column is None and self.template is None:
            example = '{column: email} or {template: "{{ row.x }}"}'
            raise ValueError(f"give exactly one of column or template, e.g. {example}")
        return self


class DestinationSpec(StrictModel):
    """Where and how the rows are written."""

    connection: str
    """The destination connection."""
    object: str
    """HubSpot object type, Salesforce sObject, Slack channel or webhook path."""
    mode: SyncMode = "upsert"
    """`mirror` also deletes rows removed from the source; `insert` never updates."""
    match: str | None = None
    """The destination field records are matched on (HubSpot idProperty, Salesforce External ID)."""
    mapping: dict[str, str | FieldMapping] = Field(default_factory=dict)
    """Destination field -> source column, or a Jinja template over `row`; or the long form
    `{column: ..., on: create, nulls: skip}` / `{template: ...}` with per-field rules."""
    update: Literal["all", "changed_fields"] = "all"
    """`changed_fields` sends, for a changed row, only the fields whose values changed plus the match field, where
    the destination supports it (`plan` says when it does not and the full row is sent)."""
    message: MessageSpec | None = None
    """Slack: the message rendered per row."""
    channel: str | None = None
    """Slack: the channel (may be a template over `row`)."""
    api: Literal["auto", "rest", "bulk"] = "auto"
    """Salesforce: sObject Collections (`rest`), Bulk API 2.0 (`bulk`), or by size (`auto`)."""
    bulk_threshold: int = Field(default=2000, gt=0)
    """Salesforce `auto`: rows from which Bulk API 2.0 is used."""
    batch_size: int | None = Field(default=None, gt=0)
    """Rows per API call, at most the destination maximum."""
    associations: list[AssociationSpec] = Field(default_factory=list)
    """HubSpot: links to records another sync writes (that sync runs first)."""

    @field_validator("object")
    @classmethod
    def _named_object(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty: name the HubSpot object type, Salesforce sObject, channel or path")
        return value

    def field_mappings(self) -> dict[str, FieldMapping]:
        """The mapping with every value in the long form, in mapping order."""
        return {name: FieldMapping.of(value) for name, value in self.mapping.items()}


class GuardrailSpec(StrictModel):
    """Limits checked on the plan before anything is written."""

    max_deletes: CountOrPercent | None = None
    """Most deletes a run may make (count or % of synced rows); more stops it before writing."""
    allow_empty_source: bool = False
    """An empty query result with rows synced stops the run unless true."""
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Share of failed/rejected rows above which the run is `failed`."""
    max_cleared_fields: CountOrPercent | None = None
    """Most synced rows a run may clear (set to null) one field on (count or % of synced rows); more stops it before
    writing."""

    @field_validator("max_deletes", "max_cleared_fields", mode="before")
    @classmethod
    def _thresholds(cls, value: Any) -> CountOrPercent | None:
        return CountOrPercent.parse(value)


class SyncSpec(StrictModel):
    """One `syncs/<name>.yml`."""

    name: str
    """The sync name (default: the file name)."""
    source: SourceSpec
    """Where the rows come from."""
    destination: DestinationSpec
    """Where and how they are written."""
    schedule: str | None = None
    """Cron expression for `activate schedule` (five fields, or @hourly/@daily)."""
    state: Literal["local", "warehouse"] = "local"
    """`warehouse`: state tables and diff in the source warehouse."""
    guardrails: GuardrailSpec = GuardrailSpec()
    """Limits checked on the plan before anything is written."""
    after: list[str] = Field(default_factory=list)
    """Syncs that run before this one."""
    tags: list[str] = Field(default_factory=list)
    """Labels for selection: `tag:NAME`."""
    owner: str | None = None
    """Who answers for this sync: a name, an email, or `Name <email>` (dbt exposures)."""

    @property
    def dependencies(self) -> list[str]:
        """The syncs this one runs after: its `after:` names, then the syncs its associations read ids from."""
        return list(dict.fromkeys([*self.after, *(a.sync for a in self.destination.associations)]))

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", value):
            raise ValueError("a sync name uses letters, digits, '_' and '-' and starts with a letter or '_'")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.fullmatch(r"[A-Za-z0-9_\-.]+", tag):
                raise ValueError(f"tag {tag!r}: a tag uses letters, digits, '_', '-' and '.'")
        return value
