"""The Plan: what a run would do, as data. `activate plan` renders it; `activate run` executes it.

A plan is built from a StateReader (read-only by construction), so a dry run cannot write state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from activate.config.models import CountOrPercent, GuardrailSpec, SyncMode
from activate.diff.workspace import DiffCounts
from activate.rows import Operation

# What each mode does with each kind of diffed row. `None`: no API call (the row is recorded and its state
# settled: removed rows of a non-mirror sync are forgotten, changed rows of an insert sync are skipped).
MODE_OPERATIONS: dict[str, dict[str, Operation | None]] = {
    "upsert": {"added": Operation.UPSERT, "changed": Operation.UPSERT, "removed": None},
    "update": {"added": Operation.UPDATE, "changed": Operation.UPDATE, "removed": None},
    "insert": {"added": Operation.INSERT, "changed": None, "removed": None},
    "mirror": {"added": Operation.UPSERT, "changed": Operation.UPSERT, "removed": Operation.DELETE},
}


@dataclass(frozen=True)
class GuardrailVerdict:
    """One guardrail checked on the plan."""

    name: str
    tripped: bool
    message: str


@dataclass
class Plan:
    """The diff's counts, the operations they become, sample payloads and guardrail verdicts."""

    sync_name: str
    mode: SyncMode
    counts: DiffCounts
    full_resync: bool
    verdicts: list[GuardrailVerdict] = field(default_factory=list)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    api_calls: int = 0  # expected: the rows to send over the destination's batch size, per operation
    # Syncs with `destination.associations`: {"create": n, "remove": m, "sample": [{key, operation, to, target_key}]}
    associations: dict[str, Any] | None = None
    # `update: changed_fields` where the destination supports it: changed rows carry only their changed fields
    partial_updates: bool = False
    # field -> synced rows the run would clear it on (set to null), counted when `max_cleared_fields` is set
    cleared_fields: dict[str, int] = field(default_factory=dict)
    # `plan --key K`: each chosen row as a sample, with its "kind" (added | changed | removed | unchanged |
    # held_back | invalid | not_in_source); rows the run does not write carry a "note" saying why
    key_samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def operations(self) -> dict[str, int]:
        """API operations the run will send, by operation name, plus rows settled without a call."""
        ops = MODE_OPERATIONS[self.mode]
        out: dict[str, int] = {}
        for kind, count in (
            ("added", self.counts.added),
            ("changed", self.counts.changed),
            ("removed", self.counts.removed),
        ):
            op = ops[kind]
            name = op.value if op is not None else ("forget" if kind == "removed" else "skip")
            out[name] = out.get(name, 0) + count
        return {k: v for k, v in out.items() if v}

    @property
    def rows_to_send(self) -> int:
        ops = MODE_OPERATIONS[self.mode]
        return sum(
            count
            for kind, count in (
                ("added", self.counts.added),
                ("changed", self.counts.changed),
                ("removed", self.counts.removed),
            )
            if ops[kind] is not None
        )

    @property
    def tripped(self) -> list[GuardrailVerdict]:
        return [v for v in self.verdicts if v.tripped]

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "sync": self.sync_name,
            "mode": self.mode,
            "rows_read": c.rows_read,
            "added": c.added,
            "changed": c.changed,
            "removed": c.removed,
            "unchanged": c.unchanged,
            "invalid": c.invalid,
            "duplicate_match": c.duplicate_match,
            "held_back": c.held_back,
            "config_changed": c.config_changed,
            "full_resync": self.full_resync,
            "operations": self.operations,
            "api_calls": self.api_calls,
            "guardrails": [{"name": v.name, "tripped": v.tripped, "message": v.message} for v in self.verdicts],
            "partial_updates": self.partial_updates,
            "samples": self.samples,
            "notes": self.notes,
            **({"cleared_fields": self.cleared_fields} if self.cleared_fields else {}),
            **({"keys": self.key_samples} if self.key_samples else {}),
            **({"associations": self.associations} if self.associations is not None else {}),
        }


def expected_api_calls(plan: Plan, batch_size: int) -> int:
    """API calls the plan's writes take at `batch_size` rows per call (one per batch and operation)."""
    ops = MODE_OPERATIONS[plan.mode]
    size = max(1, batch_size)
    calls = 0
    for kind, count in (
        ("added", plan.counts.added),
        ("changed", plan.counts.changed),
        ("removed", plan.counts.removed),
    ):
        if ops[kind] is not None and count:
            calls += -(-count // size)
    return calls


def check_guardrails(
    guardrails: GuardrailSpec, mode: SyncMode, counts: DiffCounts, *, approved_deletes: int | None = None
) -> list[GuardrailVerdict]:
    """Every guardrail's verdict on the plan (max_error_rate is judged after writing, and says so).

    `approved_deletes`: a person approved up to this many deletes for this one run (`run --approve-deletes N`);
    more deletes than `max_deletes` allows pass when they are at most that many.
    """
    verdicts: list[GuardrailVerdict] = []
    deletes = counts.removed if mode == "mirror" else 0
    if guardrails.max_deletes is not None:
        limit = guardrails.max_deletes.of(counts.state_rows)
        share = 100.0 * deletes / counts.state_rows if counts.state_rows else 0.0
        over = (
            f"would delete {deletes} of {counts.state_rows} synced rows ({share:.1f}%), over max_deletes "
            f"{guardrails.max_deletes} ({limit:g} rows) by {deletes - limit:g} rows"
        )
        if deletes > limit and approved_deletes is not None and deletes <= approved_deletes:
            verdicts.append(
                GuardrailVerdict("max_deletes", False, f"{over}; approved for this run (up to {approved_deletes})")
            )
        elif deletes > limit:
            approval = (
                f"--approve-deletes {approved_deletes} is fewer than that"
                if approved_deletes is not None
                else f"If the deletes are intended, approve them for one run: --approve-deletes {deletes} --reason"
            )
            verdicts.append(GuardrailVerdict("max_deletes", True, f"{over}; nothing was written. {approval}"))
        else:
            verdicts.append(
                GuardrailVerdict(
                    "max_deletes",
                    False,
                    f"{deletes} deletes ({share:.1f}% of {counts.state_rows}) within {guardrails.max_deletes}",
                )
            )
    if counts.rows_read == 0 and counts.state_rows > 0:
        if guardrails.allow_empty_source:
            verdicts.append(
                GuardrailVerdict("allow_empty_source", False, "the source is empty and allow_empty_source is set")
            )
        else:
            verdicts.append(
                GuardrailVerdict(
                    "allow_empty_source",
                    True,
                    f"the query returned 0 rows while {counts.state_rows} rows are synced; nothing was written. "
                    "Set guardrails.allow_empty_source: true if an empty result is expected.",
                )
            )
    if guardrails.max_error_rate is not None:
        verdicts.append(
            GuardrailVerdict(
                "max_error_rate", False, f"judged after writing: over {guardrails.max_error_rate:.0%} fails the run"
            )
        )
    return verdicts


def check_cleared_fields(limit: CountOrPercent, cleared: dict[str, int], state_rows: int) -> GuardrailVerdict:
    """`max_cleared_fields`: a run that would set one field to null on more synced rows than the limit stops before
    any write (a broken model that blanks a column), naming the field and the share."""
    allowed = limit.of(state_rows)
    worst = max(cleared.items(), key=lambda item: (item[1], item[0]), default=None)
    if worst is None or worst[1] <= allowed:
        most = f"; most: {worst[0]} on {worst[1]}" if worst else ""
        return GuardrailVerdict("max_cleared_fields", False, f"no field cleared on more than {limit}{most}")
    over = sorted((f for f, n in cleared.items() if n > allowed), key=lambda f: (-cleared[f], f))
    described = ", ".join(
        f"{f} on {cleared[f]} of {state_rows} synced rows ({100.0 * cleared[f] / max(state_rows, 1):.1f}%)"
        for f in over
    )
    return GuardrailVerdict(
        "max_cleared_fields",
        True,
        f"would clear {described}, over max_cleared_fields {limit} ({allowed:g} rows); nothing was written. "
        "Fix the model, or raise max_cleared_fields if the values are meant to go",
    )
