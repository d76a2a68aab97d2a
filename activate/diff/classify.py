"""The diff itself, as portable SQL shared by the local workspace (DuckDB) and the warehouse-native diff.

Given the staged snapshot (row_number, row_key, row_hash, invalid_reason) and the sync's stored state,
rejections and intents, every row is classified once: added, changed, removed or unchanged. Only rows to act on
are kept. Rows with a key but unusable data (a duplicate key, NaN, bytes) are neither sent nor treated as removed.

Duplicates, in the `dupes` relation (row_key, code, reason), are of two kinds:
- a primary key that several rows carry: none of them is sent (which one is right cannot be known);
- a match value (the sync's `destination.match`, the vendor's external id) that several rows carry: they would all
  land on one destination record, each overwriting the last. The row with the smallest key wins (deterministic
  from run to run); every other is rejected with `DUPLICATE_MATCH_VALUE`, is not sent and is not treated as
  removed (a mirror must not delete the record the winner holds). Match values compare trimmed and
  case-insensitively, as HubSpot compares emails and Salesforce External IDs.
"""

from __future__ import annotations

from collections.abc import Callable

DUPLICATE_KEY = "INVALID_ROW"
DUPLICATE_MATCH_VALUE = "DUPLICATE_MATCH_VALUE"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def dupes_sql(
    snapshot: str,
    match: tuple[str, str] | None = None,
    literal: Callable[[str], str] = _text,
    *,
    match_hash: str | None = None,
) -> str:
    """Rows not to send because another row shares their key or match value: row_key, code, reason.

    `match` is (staged column holding the match value's canonical text, destination field name), or None when the
    sync has no match field read straight from a column. `literal` quotes a string in the dialect. `match_hash`: a
    staged column holding a 64-bit hash of each match value trimmed and lowered (`MATCH_HASH`), so values shared at
    all are found by grouping integers, and only the rows of a shared hash are trimmed and lowered again.
    Both kinds are found by aggregation (GROUP BY, then a join back for the match losers), never a window over
    every row: a window sorts the whole snapshot, three times slower at 1M rows.
    """
    duplicate_keys = (
        f"SELECT row_key, count(*) AS n FROM {snapshot} WHERE row_key IS NOT NULL GROUP BY row_key HAVING count(*) > 1"
    )
    by_key = (
        f"SELECT row_key, {_text(DUPLICATE_KEY)} AS code, 'duplicate primary key: ' || CAST(n AS VARCHAR) "
        "|| ' rows of the query share it; none was sent' AS reason FROM activate_dup_keys"
    )
    if match is None:
        return f"WITH activate_dup_keys AS ({duplicate_keys}) {by_key}"
    column, field = match
    # a cheap pass over every row finds the values shared at all; the exact rules run on those rows only.
    # candidates: rows that could be sent (a key of their own, usable data, a match value)
    usable = f"row_key IS NOT NULL AND invalid_reason IS NULL AND {column} IS NOT NULL"
    narrowed = usable
    if match_hash is not None:
        # equal values have equal hashes, so every row of a shared value is among the rows of a shared hash
        narrowed += (
            f" AND {match_hash} IN (SELECT {match_hash} FROM {snapshot} WHERE {usable} GROUP BY 1 HAVING count(*) > 1)"
        )
    shared = (
        f"SELECT lower(trim({column})) AS match_value FROM {snapshot} WHERE {narrowed} GROUP BY 1 HAVING count(*) > 1"
    )
    candidates = (
        f"SELECT s.row_key, v.match_value FROM {snapshot} s JOIN activate_shared v "
        f"ON v.match_value = lower(trim(s.{column})) WHERE s.{usable.replace(' AND ', ' AND s.')} "
        "AND s.row_key NOT IN (SELECT row_key FROM activate_dup_keys)"
    )
    # the row with the smallest key wins each shared value
    groups = (
        "SELECT match_value, min(row_key) AS winner FROM activate_candidates GROUP BY match_value HAVING count(*) > 1"
    )
    reason = (
        literal("duplicate match value: the row with key ")
        + " || g.winner || "
        + literal(f" has the same {field}, and both would write one destination record; only that row is sent")
    )
    by_match = (
        f"SELECT c.row_key, {_text(DUPLICATE_MATCH_VALUE)} AS code, {reason} AS reason "
        "FROM activate_candidates c JOIN activate_groups g ON g.match_value = c.match_value "
        "WHERE c.row_key <> g.winner"
    )
    return (
        f"WITH activate_dup_keys AS ({duplicate_keys}), activate_shared AS ({shared}), "
        f"activate_candidates AS ({candidates}), "
        f"activate_groups AS ({groups}) {by_key} UNION ALL {by_match}"
    )


def numbered_invalid_sql(snapshot: str, dupes: str) -> str:
    """Rows that cannot be sent, unordered: row_number, row_key (or `<row N>` without one), reason, code."""
    return f"""
        SELECT s.row_number,
               coalesce(s.row_key, '<row ' || CAST(s.row_number AS VARCHAR) || '>') AS row_key,
               coalesce(s.invalid_reason, d.reason) AS reason,
               CASE WHEN s.invalid_reason IS NULL AND d.code IS NOT NULL THEN d.code ELSE {_text(DUPLICATE_KEY)} END
                   AS code
        FROM {snapshot} s LEFT JOIN {dupes} d ON d.row_key = s.row_key
        WHERE s.invalid_reason IS NOT NULL OR s.row_key IS NULL OR d.row_key IS NOT NULL
    """


def match_hash_sql(text: str) -> str:
    """The 64-bit hash of a match value's canonical text, trimmed and lowered (DuckDB), for `dupes_sql`."""
    return f"hash(lower(trim({text})))"


def invalid_sql(snapshot: str, dupes: str) -> str:
    """Rows that cannot be sent, in source order: row_key (or `<row N>` without one), reason, code."""
    numbered = numbered_invalid_sql(snapshot, dupes)
    return f"SELECT row_key, reason, code FROM ({numbered}) activate_invalid ORDER BY row_number"


def duplicate_matches_sql(dupes: str) -> str:
    """How many rows lost to another with the same match value."""
    return f"SELECT count(*) FROM {dupes} WHERE code = {_text(DUPLICATE_MATCH_VALUE)}"


def synced_sql(state: str, intents: str) -> str:
    """The rows the destination may hold: state rows, and rows only an intent knows (row_hash NULL)."""
    return (
        f"SELECT s0.row_key, s0.row_hash, s0.config_hash, s0.destination_id FROM {state} s0 "
        f"UNION ALL SELECT i.row_key, NULL, NULL, NULL FROM {intents} i "
        f"WHERE NOT EXISTS (SELECT 1 FROM {state} x WHERE x.row_key = i.row_key)"
    )


def synced_count_sql(state: str, intents: str) -> str:
    """How many rows the destination may hold (the denominator of `max_deletes`)."""
    return f"SELECT count(*) FROM ({synced_sql(state, intents)}) synced"


def classify_sql(
    *,
    snapshot: str,
    dupes: str,
    state: str,
    rejections: str,
    intents: str,
    config_hash: str,
    full_resync: bool,
    retry_rejected: bool,
) -> str:
    """SELECT row_key, kind, bad, row_number, row_hash, destination_id, config_changed, held_back, has_intent,
    intent_hash, previous_hash (the stored state's hash)
    for every row to act on. `config_hash` is an SQL literal; the others are relations.

    A row with an intent but no state was sent by a run that died before recording it: the destination may hold
    it. It counts as synced without a hash: still in the source it is `added` (re-sent, reconciled first), gone
    from the source it is `removed` (a mirror deletes what the dead run wrote instead of leaving an orphan).
    """
    full = "TRUE" if full_resync else "FALSE"
    retry = "TRUE" if retry_rejected else "FALSE"
    cfg = config_hash
    return f"""
        SELECT * FROM (
            SELECT
                coalesce(s.row_key, st.row_key) AS row_key,
                CASE
                    WHEN s.row_key IS NULL THEN 'removed'
                    WHEN st.row_key IS NULL OR st.row_hash IS NULL THEN 'added'
                    WHEN {full} OR st.row_hash <> s.row_hash OR st.config_hash <> {cfg} THEN 'changed'
                    ELSE 'unchanged'
                END AS kind,
                coalesce(s.bad, FALSE) AS bad,
                s.row_number,
                s.row_hash,
                st.destination_id,
                (st.row_key IS NOT NULL AND st.config_hash <> {cfg}) AS config_changed,
                (NOT {retry} AND rj.row_key IS NOT NULL AND rj.row_hash = s.row_hash
                    AND rj.config_hash = {cfg}) AS held_back,
                (it.row_key IS NOT NULL) AS has_intent,
                it.row_hash AS intent_hash,
                st.row_hash AS previous_hash
            FROM (
                SELECT v.row_number, v.row_key, v.row_hash,
                       (v.invalid_reason IS NOT NULL OR d.row_key IS NOT NULL) AS bad
                FROM {snapshot} v LEFT JOIN {dupes} d ON d.row_key = v.row_key
                WHERE v.row_key IS NOT NULL
            ) s
            FULL OUTER JOIN ({synced_sql(state, intents)}) st ON s.row_key = st.row_key
            LEFT JOIN {rejections} rj ON rj.row_key = s.row_key
            LEFT JOIN {intents} it ON it.row_key = coalesce(s.row_key, st.row_key)
        ) classified WHERE kind <> 'unchanged' AND NOT bad
    """


def counts_sql(ops: str) -> str:
    """added, changed, removed, held back, config changed."""
    return f"""
        SELECT
            sum(CASE WHEN kind = 'added' AND NOT held_back THEN 1 ELSE 0 END),
            sum(CASE WHEN kind = 'changed' AND NOT held_back THEN 1 ELSE 0 END),
            sum(CASE WHEN kind = 'removed' THEN 1 ELSE 0 END),
            sum(CASE WHEN held_back THEN 1 ELSE 0 END),
            sum(CASE WHEN config_changed THEN 1 ELSE 0 END)
        FROM {ops}
    """


def totals_sql(snapshot: str, dupes: str) -> str:
    """Rows read, and rows that can be sent."""
    return f"""
        SELECT count(*),
               sum(CASE WHEN s.invalid_reason IS NULL AND s.row_key IS NOT NULL AND d.row_key IS NULL
                        THEN 1 ELSE 0 END)
        FROM {snapshot} s LEFT JOIN {dupes} d ON d.row_key = s.row_key
    """
