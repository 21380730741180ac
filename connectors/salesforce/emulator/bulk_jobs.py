"""Bulk API 2.0 ingest jobs in the emulator: the state machine and the daily record limit
(no HTTP here; bulk.py serves it).

States and transitions, as the Bulk API 2.0 Developer Guide ("Bulk API 2.0 Ingest", "Close or
Abort a Job", "Get Job Info") describes them: ``Open`` takes one upload; ``PATCH state
UploadComplete`` closes it (Salesforce queues it: ``UploadComplete``, then ``InProgress``
while it processes) and it ends ``JobComplete`` or ``Failed``; ``Aborted`` is allowed until it
ends. Limits ("Limits and Allocations"): 150 MB of upload per job, 150,000,000 records per
rolling 24 hours (past it the rest of the job is not processed and the job is ``Failed``).
Which HTTP status and error code a refused transition gets is the emulator's choice
(documented in connectors/salesforce/EMULATOR.md).
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_UPLOAD_BYTES = 150 * 1024 * 1024
DAILY_RECORD_LIMIT = 150_000_000
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})


class JobStateError(Exception):
    """A request the job's state does not allow: (status, errorCode, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class BulkJob:
    object: str
    external_id_field: str
    operation: str = "upsert"
    id: str = field(default_factory=lambda: "750" + uuid.uuid4().hex[:15])
    state: str = "Open"
    data: bytes | None = None
    created: float = field(default_factory=time.time)
    records_processed: int = 0
    records_failed: int = 0
    error_message: str = ""
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def upload(self, data: bytes) -> None:
        if self.state != "Open":
            raise JobStateError(
                409, "INVALIDJOBSTATE", f"Job {self.id} is {self.state}: uploads need Open"
            )
        if self.data is not None:
            raise JobStateError(
                400, "BULK_API_ERROR", "Found multiple contents for job: only one upload a job"
            )
        if len(data) > MAX_UPLOAD_BYTES:
            raise JobStateError(
                400, "BULK_API_ERROR", "Upload exceeds the 150 MB limit of a job's data"
            )
        self.data = data

    def change_state(self, wanted: str) -> None:
        if wanted == "UploadComplete":
            if self.state != "Open":
                raise JobStateError(
                    409, "INVALIDJOBSTATE", f"Job {self.id} is {self.state}, not Open"
                )
            self.state = "UploadComplete"
            if not self.data:
                self.fail("No data uploaded for this job")
            return
        if wanted == "Aborted":
            if self.state in TERMINAL:
                raise JobStateError(409, "INVALIDJOBSTATE", f"Job {self.id} already {self.state}")
            self.state = "Aborted"
            return
        raise JobStateError(
            400, "INVALIDJOBSTATE", f"Cannot change a job's state to {wanted!r} by request"
        )

    def start(self) -> bool:
        """The processor picks the job up; False when it was aborted meanwhile."""
        if self.state != "UploadComplete":
            return False
        self.state = "InProgress"
        return True

    def finish(self) -> None:
        if self.state == "InProgress":
            self.state = "JobComplete"

    def fail(self, message: str) -> None:
        if self.state not in ("Aborted",):
            self.state = "Failed"
            self.error_message = message

    def results_allowed(self, kind: str) -> None:
        ends = TERMINAL if kind == "unprocessedrecords" else frozenset({"JobComplete", "Failed"})
        if self.state not in ends:
            raise JobStateError(
                409, "INVALIDJOBSTATE", f"Job {self.id} is {self.state}: no {kind} yet"
            )

    def info(self, api_version: str) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(self.created))
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "externalIdFieldName": self.external_id_field,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(api_version.lstrip("v")),
            "jobType": "V2Ingest",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "numberRecordsProcessed": self.records_processed,
            "numberRecordsFailed": self.records_failed,
        }
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


@dataclass
class DailyRecords:
    """Records processed in the rolling 24 hours (the org-wide Bulk API 2.0 allocation)."""

    limit: int = DAILY_RECORD_LIMIT
    window: deque[tuple[float, int]] = field(default_factory=deque)

    def used(self, now: float) -> int:
        while self.window and self.window[0][0] < now - 86_400:
            self.window.popleft()
        return sum(n for _, n in self.window)

    def take(self, wanted: int, now: float) -> int:
        """How many of ``wanted`` records may still be processed; books them."""
        granted = max(0, min(wanted, self.limit - self.used(now)))
        if granted:
            self.window.append((now, granted))
        return granted


def result_error(code: str, message: str, fields: list[str]) -> str:
    """``sf__Error`` as the guide's failed-results example writes it: code:message:fields --"""
    return f"{code}:{message}:{','.join(fields)} --"
