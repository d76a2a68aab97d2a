"""Build a sync's Plan: check the mapping against the query's columns, snapshot, diff, sample, guardrails.

The same builder serves `plan` (with a StateReader) and `run` (with the StateStore, which is also a reader).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activate.diff.native import NativeDiff
from activate.diff.outcome import PlannedRow
from activate.diff.workspace import DiffCounts, DiffWorkspace, MatchField
from activate.errors import ConfigError, ConfigIssue, SourceError
from activate.fieldstate import FieldRules, deleted_row, parse_fields, plan_fields
from activate.plan.mapping import RenderError, RowMapping, parse_payload
from activate.plan.plan import MODE_OPERATIONS, Plan, check_cleared_fields, check_guardrails, expected_api_calls
from activate.rows import Operation
from activate.sources.config import DuckDBConnection
from activate.sources.readers import open_reader
from activate.warehouse.target import NativeTarget, native_target, open_session

if TYPE_CHECKING:
    from activate.config import LoadedSync, Project
    from activate.plan.keys import RowStateLookup
    from activate.state.store import StateReader

SAMPLE_ROWS = 3


@dataclass(frozen=True)
class PlanOptions:
    """How the diff treats stored state."""

    full_resync: bool = False
    retry_rejected: bool = False
    approved_deletes: int | None = None  # `run --approve-deletes N`: this one run may delete up to N rows
    sample_keys: tuple[str, ...] = ()  # `plan --key K`: these rows' writes (old -> new) besides the samples


def check_columns(sync: LoadedSync, columns: list[str], root: Path) -> None:
    """Every column the mapping, templates and key read must be in the query's result; all misses at once."""
    available = set(columns)
    lowered = {c.lower(): c for c in columns}
    issues: list[ConfigIssue] = []

    def miss(path: str, column: str) -> None:
        line, col = sync.positions.at(path)
        close = difflib.get_close_matches(column, columns, n=1) or (
            [lowered[column.lower()]] if column.lower() in lowered else []
        )
        hint = f"did you mean {close[0]!r}?" if close else f"the query returns: {', '.join(columns[:30])}"
        issues.append(
            ConfigIssue(
                _relative(sync.file, root), line, col, path, f"column {column!r} is not in the query's result", hint
            )
        )

    for key in sync.spec.source.key_columns:
        if key not in available:
            miss("source.primary_key", key)
    for column, path in sync.columns_used().items():
        if column not in available:
            miss(path, column)
    match = sync.spec.destination.match
    if match is not None and match not in sync.spec.destination.mapping:
        line, col = sync.positions.at("destination.match")
        issues.append(
            ConfigIssue(
                _relative(sync.file, root),
                line,
                col,
                "destination.match",
                f"match field {match!r} is not a mapped destination field",
                f"add it to destination.mapping, e.g. {match}: <column>",
            )
        )
    if issues:
        raise ConfigError(issues)


def _duckdb_file(connection: object, root: Path) -> str | None:
    """The warehouse file of a DuckDB source connection (None for any other source, or an in-memory one)."""
    if not isinstance(connection, DuckDBConnection) or connection.path == ":memory:":
        return None
    path = Path(connection.path) if Path(connection.path).is_absolute() else root / connection.path
    if not path.exists():
        raise SourceError(f"DuckDB warehouse file {path} does not exist (check the connection's path:)")
    return str(path)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class PlanBuilder:
    """Snapshot + diff of one sync into a workspace the caller closes (the run streams operations from it)."""

    def __init__(
        self, project: Project, sync: LoadedSync, reader: StateReader, options: PlanOptions, run_id: str | None = None
    ) -> None:
        self.project = project
        self.sync = sync
        self.reader = reader
        self.options = options
        self.run_id = run_id
        self.mapping = RowMapping(sync.spec.destination)
        self.rules = FieldRules.of(self.mapping, partial=False, force=options.full_resync)
        self.workspace: DiffWorkspace | NativeDiff | None = None

    def build(self) -> Plan:
        spec = self.sync.spec
        native = native_target(self.project, self.sync)
        counts = self._diff_natively(native) if native is not None else self._diff_locally()
        plan = Plan(spec.name, spec.destination.mode, counts, self.options.full_resync)
        return self._describe(plan, counts)

    def _diff_natively(self, target: NativeTarget) -> DiffCounts:
        """Snapshot and diff inside the warehouse: only the planned rows are fetched later."""
        from activate.warehouse.snowflake import query_tag

        spec = self.sync.spec
        session = open_session(target, self.project.root, query_tag(spec.name, self.run_id))
        native = NativeDiff(session, target, spec.name)
        self.workspace = native
        try:
            columns = [name for name, _ in session.result_columns(self.sync.query)]
            check_columns(self.sync, columns, self.project.root)
            used = self.mapping.columns()
            native.stage_snapshot(self.sync.query, spec.source.key_columns, sorted(columns if used is None else used))
            return native.diff(
                self.sync.config_hash,
                full_resync=self.options.full_resync,
                retry_rejected=self.options.retry_rejected,
                match=self._match_field(),
            )
        except SourceError as exc:
            raise SourceError(f"sync '{spec.name}': the query failed: {self.project.secrets.mask(str(exc))}") from exc

    def _diff_locally(self) -> DiffCounts:
        spec = self.sync.spec
        workspace = DiffWorkspace(directory=None)
        self.workspace = workspace
        connection = self.project.connection(spec.source.connection)
        path = _duckdb_file(connection, self.project.root)
        match = self._match_field()
        try:
            lock_timeout = float(getattr(connection, "lock_timeout", 30.0))
            if path is not None and workspace.attach_duckdb(path, lock_timeout):
                # a DuckDB warehouse is read in place: one statement keys and hashes every row
                self._stage(
                    workspace.source_columns,
                    lambda hashed: workspace.stage_query(
                        self.sync.query, spec.source.key_columns, hashed, match[0] if match else None
                    ),
                )
            else:
                source = open_reader(connection, self.project.root)
                try:
                    set_query_tag = getattr(source, "set_query_tag", None)
                    if set_query_tag is not None:
                        set_query_tag(spec.name, self.run_id)
                    self._stage(
                        source.columns,
                        lambda hashed: workspace.stage_snapshot(
                            source.batches(self.sync.query), spec.source.key_columns, hashed
                        ),
                    )
                finally:
                    source.close()
        except SourceError as exc:
            raise SourceError(f"sync '{spec.name}': the query failed: {self.project.secrets.mask(str(exc))}") from exc
        workspace.stage_state(self.reader, spec.name)
        return workspace.diff(
            self.sync.config_hash,
            full_resync=self.options.full_resync,
            retry_rejected=self.options.retry_rejected,
            match=self._match_field(),
        )

    def _stage(self, columns_of: Callable[[str], list[str]], stage: Callable[[list[str]], int]) -> None:
        """Check the mapping against the query's columns, then stage the snapshot hashing the columns it reads."""
        columns = columns_of(self.sync.query)
        check_columns(self.sync, columns, self.project.root)
        used = self.mapping.columns()
        stage(sorted(columns if used is None else used))

    def _match_field(self) -> MatchField | None:
        """(source column, field) of the sync's match field when it reads a column: duplicates are found in SQL.

        A templated match field is left to the destination (which refuses or merges as its API does).
        """
        match = self.sync.spec.destination.match
        for source in self.mapping.fields:
            if source.field == match and source.column is not None:
                return (source.column, match)
        return None

    def _describe(self, plan: Plan, counts: DiffCounts) -> Plan:
        spec = self.sync.spec
        plan.verdicts = check_guardrails(
            spec.guardrails, spec.destination.mode, counts, approved_deletes=self.options.approved_deletes
        )
        self._partial_updates(plan)
        self.rules = FieldRules.of(self.mapping, partial=plan.partial_updates, force=self.options.full_resync)
        max_cleared = spec.guardrails.max_cleared_fields
        if max_cleared is not None:
            plan.cleared_fields = self._cleared_fields()
            plan.verdicts.append(check_cleared_fields(max_cleared, plan.cleared_fields, counts.state_rows))
        plan.samples = self._samples()
        if self.options.sample_keys:
            plan.key_samples = self._key_samples(self.options.sample_keys)
        plan.api_calls = expected_api_calls(plan, self._batch_size())
        if spec.destination.associations:
            from activate.associations import plan_links

            assert self.workspace is not None
            links = plan_links(self.reader, self.sync, self.workspace)
            plan.associations = {"create": links.created, "remove": links.removed, "sample": links.samples}
        if counts.config_changed:
            plan.notes.append(
                f"the sync's configuration (destination, object, mode, match or mapping) changed since "
                f"{counts.config_changed} rows were synced: each is re-checked once and re-sent where its fields "
                "now render differently from the values confirmed in the destination"
            )
        if counts.held_back:
            plan.notes.append(
                f"{counts.held_back} rows were rejected earlier and have not changed: not re-sent "
                "(use --retry-rejected to send them anyway)"
            )
        if counts.duplicate_match:
            plan.notes.append(
                f"{counts.duplicate_match} rows share their {spec.destination.match} with a row of smaller key: "
                "rejected with DUPLICATE_MATCH_VALUE (only one row per destination record is sent)"
            )
        other_invalid = counts.invalid - counts.duplicate_match
        if other_invalid:
            plan.notes.append(f"{other_invalid} rows cannot be sent (null or duplicate key, NaN, bytes)")
        return plan

    def _partial_updates(self, plan: Plan) -> None:
        """`update: changed_fields`: whether the destination can take changed rows' changed fields alone; when it
        cannot, the plan says why and full rows are sent."""
        destination = self.sync.spec.destination
        if destination.update != "changed_fields":
            return
        from activate.destinations.registry import destination_plugin

        plugin = destination_plugin(self.project.connection(destination.connection).type)
        reason = plugin.partial_updates(destination) if plugin is not None else "unknown destination type"
        if reason is None:
            plan.partial_updates = True
            match = f" plus {destination.match}" if destination.match else ""
            plan.notes.append(f"update: changed_fields: changed rows send only the fields that changed{match}")
        else:
            plan.notes.append(f"update: changed_fields: the full row is sent: {reason}")

    def _cleared_fields(self) -> dict[str, int]:
        """Per field, the synced rows whose write would set it to null (`max_cleared_fields`): every changed row is
        rendered and compared with its confirmed values, before anything is written."""
        assert self.workspace is not None
        cleared: dict[str, int] = {}
        for chunk in self.workspace.planned(["changed"]):
            for row in chunk:
                if row.previous_fields is None:
                    continue
                try:
                    rendered = self.mapping.render(parse_payload(row.payload or "{}"))
                except RenderError:
                    continue
                write = plan_fields(self.rules, rendered, row.previous_fields, row.previous_hash, creates=False)
                previous = parse_fields(row.previous_fields)
                for name in write.changed:
                    if write.send is not None and write.send.get(name) is None and previous.get(name) is not None:
                        cleared[name] = cleared.get(name, 0) + 1
        return cleared

    def _batch_size(self) -> int:
        """Rows per write call: the sync's `batch_size`, capped by the connection's (a webhook's `batch_size`) or else
        the destination's."""
        from activate.destinations.registry import destination_plugin

        destination = self.sync.spec.destination
        connection = self.project.connection(destination.connection)
        plugin = destination_plugin(connection.type)
        cap = getattr(connection, "batch_size", None) or (plugin.capabilities().batch_size if plugin else 1)
        return min(destination.batch_size or cap, cap)

    def _samples(self) -> dict[str, list[dict[str, Any]]]:
        assert self.workspace is not None
        samples: dict[str, list[dict[str, Any]]] = {}
        ops = MODE_OPERATIONS[self.sync.spec.destination.mode]
        for kind in ("added", "changed", "removed"):
            rows = self.workspace.sample(kind, SAMPLE_ROWS)
            if rows and ops[kind] is not None:
                samples[kind] = [self._sample_item(row) for row in rows]
        return samples

    def _key_samples(self, keys: tuple[str, ...]) -> list[dict[str, Any]]:
        """`plan --key K`: each chosen row as a sample, found in one pass over the planned rows (`plan.keys`)."""
        from activate.plan.keys import canonical_keys, find_planned, invalid_keys, unplanned_row

        assert self.workspace is not None
        spec = self.sync.spec
        wanted = canonical_keys(keys, spec.source.key_columns, spec.name)
        planned = find_planned(self.workspace, wanted)
        missing = [key for key in wanted if key not in planned]
        invalid = invalid_keys(self.workspace, missing) if missing else {}
        state = self._row_state()
        return [
            {"kind": planned[key].kind, **self._sample_item(planned[key])}
            if key in planned
            else unplanned_row(key, spec.name, state, invalid)
            for key in wanted
        ]

    def _row_state(self) -> RowStateLookup:
        """Where one row's state is read: the warehouse of a `state: warehouse` sync, else the reader."""
        from activate.diff.native import NativeDiff

        if isinstance(self.workspace, NativeDiff) and self.workspace.target.separate_state:
            from activate.explain import WarehouseRowState

            return WarehouseRowState(self.workspace.session, self.workspace.target)
        return self.reader

    def _sample_item(self, row: PlannedRow) -> dict[str, Any]:
        """A planned row as the run would write it: its operation and, for a write, the fields it sends."""
        op = MODE_OPERATIONS[self.sync.spec.destination.mode][row.kind]
        item: dict[str, Any] = {
            "key": row.row_key,
            "operation": op.value if op is not None else ("forget" if row.kind == "removed" else "skip"),
        }
        if row.destination_id:
            item["destination_id"] = row.destination_id
        if op is None:
            mode = self.sync.spec.destination.mode
            item["note"] = (
                f"removed from the source; mode {mode} leaves the destination record in place"
                if row.kind == "removed"
                else "changed in the source; mode insert never updates a record it created"
            )
        elif op is Operation.DELETE:
            changes = deleted_row(row.previous_fields, row.previous_hash).changes
            if changes:
                item["changes"] = parse_fields(changes)
        elif op is not None and row.payload is not None:
            try:
                rendered = self.mapping.render(parse_payload(row.payload))
            except RenderError as exc:
                item["error"] = str(exc)
            else:
                item.update(self._sample_write(row, op, rendered))
        return item

    def _sample_write(self, row: PlannedRow, op: Operation, rendered: dict[str, Any]) -> dict[str, Any]:
        """A sample row as the run would send it: the fields it carries and, for a changed row, each changed field's
        confirmed value and new one (`plan --diff`)."""
        creates = op is Operation.INSERT or (op is Operation.UPSERT and row.previous_hash is None)
        write = plan_fields(self.rules, rendered, row.previous_fields, row.previous_hash, creates=creates)
        if write.send is None:
            return {"fields": {}, "changes": {}, "note": "no field this sync updates changed: nothing is sent"}
        out: dict[str, Any] = {"fields": write.send}
        if row.kind == "changed":
            out["changes"] = parse_fields(write.written.changes) if write.written.changes else {}
        return out

    def close(self) -> None:
        if self.workspace is not None:
            self.workspace.close()
            self.workspace = None


def build_plan(project: Project, sync_name: str, reader: StateReader, options: PlanOptions = PlanOptions()) -> Plan:
    """A dry run: the plan of one sync, with nothing written anywhere."""
    from activate.plan.state_location import describe_state, moved_state

    builder = PlanBuilder(project, project.sync(sync_name), reader, options)
    try:
        plan = builder.build()
    finally:
        builder.close()
    plan.notes.insert(0, describe_state(project, builder.sync))
    moved = None if options.full_resync else moved_state(project, builder.sync, plan.counts.state_rows)
    if moved is not None:
        plan.notes.insert(1, f"warning: {moved}")
    return plan
