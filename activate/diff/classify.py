"""The diff itself, as portable SQL shared by the local workspace (DuckDB) and the warehouse-native diff.

Given the staged snapshot (row_number, row_key, row_hash, invalid_reason) and the sync's stored state,
rejections and intents, every row is classified once: added, changed, removed or unchanged. Only rows to act on
are kept. Rows with a key but unusable data (a duplicate key, NaN, bytes) are neither sent nor treated as removed.
"""

from __future__ import annotations


def dupes_sql(snapshot: str) -> str:
    """Keys that more than one snapshot row carries."""
    return (
        f"SELECT row_key, count(*) AS n FROM {snapshot} WHERE row_key IS NOT NULL GROUP BY row_key HAVING count(*) > 1"
    )


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
    intent_hash for every row to act on. `config_hash` is an SQL literal; the others are relations."""
    full = "TRUE" if full_resync else "FALSE"
    retry = "TRUE" if retry_rejected else "FALSE"
    cfg = config_hash
    return f"""
        SELECT * FROM (
            SELECT
                coalesce(s.row_key, st.row_key) AS row_key,
                CASE
                    WHEN s.row_key IS NULL THEN 'removed'
                    WHEN st.row_key IS NULL THEN 'added'
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
                it.row_hash AS intent_hash
            FROM (
                SELECT v.row_number, v.row_key, v.row_hash,
                       (v.invalid_reason IS NOT NULL OR d.row_key IS NOT NULL) AS bad
                FROM {snapshot} v LEFT JOIN {dupes} d ON d.row_key = v.row_key
                WHERE v.row_key IS NOT NULL
            ) s
            FULL OUTER JOIN {state} st ON s.row_key = st.row_key
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
