"""Bulk API 2.0 CSV: the upload a job takes and the result files it gives back.

Bulk API 2.0 Developer Guide ("Prepare CSV Files", "Get Job Successful/Failed Record
Results"): UTF-8, a header row of field API names, comma-delimited, LF line endings
(the job's defaults); an empty cell leaves a field as it is, ``#N/A`` sets it to null.
Result files add ``sf__Id`` and ``sf__Created`` (successful) or ``sf__Id`` and ``sf__Error``
(failed) before the uploaded columns; unprocessed records come back as uploaded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

NULL = "#N/A"
SF_ID, SF_CREATED, SF_ERROR = "sf__Id", "sf__Created", "sf__Error"


def cell(value: Any) -> str:
    """One value as Bulk API 2.0 reads it: null as ``#N/A``, booleans lower case."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def columns_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every field any record has, in first-seen order (one header for the whole upload)."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    return list(seen)


def _writer(buffer: io.StringIO) -> Any:
    return csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def build_csv(records: Sequence[Mapping[str, Any]], columns: list[str] | None = None) -> bytes:
    """The upload: header row, one row per record; a field a record lacks is left empty
    (unchanged), a None is ``#N/A`` (null)."""
    header = columns if columns is not None else columns_of(records)
    buffer = io.StringIO()
    writer = _writer(buffer)
    writer.writerow(header)
    for record in records:
        writer.writerow([cell(record[c]) if c in record else "" for c in header])
    return buffer.getvalue().encode("utf-8")


def split_csv(
    records: Sequence[Mapping[str, Any]], max_bytes: int
) -> Iterator[tuple[bytes, list[int]]]:
    """Uploads of at most ``max_bytes`` each, with the indexes of the records in each; one
    header for all (a record longer than ``max_bytes`` alone is still one upload)."""
    header = columns_of(records)
    head = build_csv([], header)
    chunk: list[int] = []
    rows: list[bytes] = []
    size = len(head)
    for index, record in enumerate(records):
        row = build_csv([record], header)[len(head) :]
        if chunk and size + len(row) > max_bytes:
            yield head + b"".join(rows), chunk
            chunk, rows, size = [], [], len(head)
        chunk.append(index)
        rows.append(row)
        size += len(row)
    if chunk:
        yield head + b"".join(rows), chunk


def parse_csv(data: bytes | str) -> list[dict[str, str]]:
    """Rows of a CSV with a header row, as dicts (a result file or an upload)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    if not text.strip():
        return []
    return [dict(row) for row in csv.DictReader(io.StringIO(text))]
