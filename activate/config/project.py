"""A loaded, valid project: what the engine, the CLI and the scheduler read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.config.hints import closest
from activate.config.models import ConnectionSpec, FieldMapping, ProjectSpec, SyncSpec
from activate.config.positions import Positions, format_path
from activate.config.secrets import SecretMasker
from activate.config.templates import columns_used, is_template, template_columns_used, template_strings
from activate.errors import ConfigIssue, UsageError
from activate.secrets.connections import LateReferences

if TYPE_CHECKING:
    from activate.integrations.dbt import DbtModel


@dataclass(frozen=True)
class LoadedSync:
    """One valid sync file, with what the engine needs beyond its spec.

    `query` is the SQL to run, whichever way the file gave it (dbt references resolved to relations); `positions`
    lets a runtime error (a mapped column missing from the query's result) still point at `file:line:col`.
    `dbt_models` are the dbt models the sync reads (`source: {dbt: ...}` or `ref()`), from dbt's manifest.
    """

    spec: SyncSpec
    file: Path
    query: str
    positions: Positions
    dbt_models: tuple[DbtModel, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    def where(self, path: str = "") -> str:
        """`syncs/x.yml:12:5` for the entry at `path` (nearest written parent when absent), relative to the root."""
        return self.positions.where(path)

    @property
    def config_hash(self) -> str:
        """sha256 over what decides each row's payload and target: destination connection, object, mode, match,
        mapping, message and channel, as canonical JSON (sorted keys), so it is stable across processes and key
        order. When it changes, every row is re-checked once: re-sent where its fields render differently from the
        values confirmed in the destination (`activate.fieldstate`).

        A mapping value's rules (`on`, `nulls`) are part of it: changing one re-sends every row once, so the
        destination holds what the new rule says. A value hashes as its short form whenever one says the same
        (`{column: email}` is `email`), so writing a field in the long form without a rule re-sends nothing.
        `update` is not part of it: it decides how a change is sent, not what the record holds.
        """
        destination = self.spec.destination
        payload: dict[str, Any] = {
            "connection": destination.connection,
            "object": destination.object,
            "mode": destination.mode,
            "match": destination.match,
            "mapping": {name: _hashed(value) for name, value in destination.mapping.items()},
            "message": destination.message.model_dump(mode="json") if destination.message else None,
            "channel": destination.channel,
        }
        if destination.associations:  # absent when unused, so the hash of every existing sync stays as it was
            payload["associations"] = [a.model_dump(mode="json") for a in destination.associations]
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def columns_used(self) -> dict[str, str]:
        """Every source column the mapping, message and channel read -> the config path that reads it first.

        Checked by the engine against the query's result columns before any write, so a typo fails at the
        mapping's `file:line` rather than as one rejection per row.
        """
        destination = self.spec.destination
        used: dict[str, str] = {}
        mapped: list[tuple[str, set[str]]] = []
        for field_name, value in destination.mapping.items():
            path = f"destination.mapping.{field_name}"
            if isinstance(value, str):
                mapped.append((path, columns_used(value)))
            elif value.column is not None:
                mapped.append((f"{path}.column", {value.column}))
            elif value.template is not None:
                mapped.append((f"{path}.template", template_columns_used(value.template)))
        texts: list[tuple[str, str]] = []
        if destination.message is not None:
            texts.append(("destination.message.text", destination.message.text))
            if isinstance(destination.message.blocks, str):
                texts.append(("destination.message.blocks", destination.message.blocks))
            elif destination.message.blocks is not None:
                texts += [
                    (format_path(("destination", "message", "blocks", *sub)), text)
                    for sub, text in template_strings(destination.message.blocks)
                ]
        if destination.channel and is_template(destination.channel):
            texts.append(("destination.channel", destination.channel))
        for index, association in enumerate(destination.associations):
            used.setdefault(association.key, f"destination.associations.{index}.key")
        for path, columns in mapped:
            for column in sorted(columns):
                used.setdefault(column, path)
        for path, text in texts:
            # Outside the mapping, plain text is literal text, not a column name.
            if is_template(text):
                for column in sorted(columns_used(text)):
                    used.setdefault(column, path)
        return used


@dataclass(frozen=True)
class Project:
    """A valid project: `activate.yml` (connections validated into their concrete models) and its syncs.

    `syncs` is ordered by file name. `secrets` knows every secret value of the project (provider values join it as
    they are read); pass any text bound for a user, a log or a state table through `secrets.mask`. `late` holds the
    provider references (`${vault:..}`, `${aws-sm:..}`, `${file:..}`) that `connection()` resolves.
    """

    root: Path
    spec: ProjectSpec
    syncs: dict[str, LoadedSync]
    secrets: SecretMasker
    positions: Positions = field(default_factory=lambda: Positions("activate.yml"))
    warnings: tuple[ConfigIssue, ...] = ()
    """What is valid but unsafe (insert mode on a webhook that may not drop replays): `validate` prints them."""
    state_from: str = "the default"
    """Where `spec.state.url` came from: `ACTIVATE_STATE_URL`, `state.url at activate.yml:2:8`, or the default."""
    late: LateReferences = field(default_factory=LateReferences)
    """The provider references (`${vault:..}`, `${aws-sm:..}`, `${file:..}`) that `connection()` resolves."""
    target: str | None = None
    """The `targets:` entry applied (`--target`, ACTIVATE_TARGET, `default_target:`), None without targets."""

    def state_store(self) -> str:
        """The state store as a user should read it: its URL, password masked, and where that URL came from."""
        return f"{self.secrets.mask(self.spec.state.url)} (from {self.state_from})"

    def run_order(self, names: Iterable[str] | None = None) -> list[str]:
        """Sync names (all, or `names` plus nothing else) ordered so each runs after its dependencies (`after:` and
        the syncs its associations read ids from, `SyncSpec.dependencies`); otherwise in file order. The loader has
        already rejected unknown names and cycles."""
        wanted = list(self.syncs) if names is None else [self.sync(n).name for n in names]
        chosen = set(wanted)
        ordered: list[str] = []
        placed: set[str] = set()

        def place(name: str) -> None:
            if name in placed:
                return
            placed.add(name)
            for before in self.syncs[name].spec.dependencies:
                if before in chosen:
                    place(before)
            ordered.append(name)

        for name in wanted:
            place(name)
        return ordered

    def connection(self, name: str) -> ConnectionSpec:
        """The connection called `name`, opened: its provider references read through the run's secret session
        (`activate.secrets`). A `UsageError` naming the closest one when there is none; a `SecretError` when a
        reference cannot be read."""
        from activate.secrets.connections import open_connection

        return open_connection(self, name, self.connection_spec(name))

    def connection_spec(self, name: str) -> ConnectionSpec:
        """The connection as validated from the file: provider references still as written (nothing fetched)."""
        found = self.spec.connections.get(name)
        if found is None:
            raise UsageError(_unknown("connection", name, list(self.spec.connections)))
        return found

    def sync(self, name: str) -> LoadedSync:
        """The sync called `name`; a `UsageError` listing the known ones (closest first) when there is none."""
        found = self.syncs.get(name)
        if found is None:
            raise UsageError(_unknown("sync", name, list(self.syncs)))
        return found


def _hashed(value: str | FieldMapping) -> str | dict[str, Any]:
    """A mapping value as `config_hash` reads it: as written in the short form, and a long form as the short form
    that means the same when there is one, so the hash of every sync written before the long form stays as it was."""
    if isinstance(value, str):
        return value
    short = value.short_form
    return short if short is not None else value.model_dump(exclude_defaults=True)


def _unknown(kind: str, name: str, known: list[str]) -> str:
    text = f"unknown {kind} '{name}'"
    match = closest(name, known)
    if match:
        text += f" (did you mean '{match}'?)"
    return text + (f"; known {kind}s: {', '.join(known)}" if known else f"; the project defines no {kind}s")
