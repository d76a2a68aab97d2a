"""Rows to Arrow: the conversion the row-based readers (SQLAlchemy, Snowflake without an Arrow result API) share.

`JSON_METADATA_KEY` tags a text column that holds JSON documents, so the diff hashes them as nested JSON.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

JSON_METADATA_KEY = b"activate.type"


def rows_to_arrow(names: list[str], rows: Any) -> pa.RecordBatch:
    """Column-wise conversion (pyarrow does the per-value work in C); UUIDs and JSON documents become text."""
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    fields = []
    for name, values in zip(names, columns, strict=True):
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, uuid.UUID):
            values = tuple(None if v is None else str(v) for v in values)
        elif isinstance(sample, (dict, list)):
            # JSON documents travel as text tagged `json`, so the hash treats them as nested JSON, not strings
            array = pa.array([None if v is None else json.dumps(v, sort_keys=True) for v in values], pa.string())
            arrays.append(array)
            fields.append(pa.field(name, pa.string(), metadata={JSON_METADATA_KEY: b"json"}))
            continue
        array = pa.array(values)
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
