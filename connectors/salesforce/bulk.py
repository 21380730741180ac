"""Bulk API 2.0 ingest jobs: upsert many records in a few calls.

One job per upload of at most ``MAX_UPLOAD_BYTES`` (the guide's limit is 150 MB per job's
data; we stay below it): create the job (``POST /jobs/ingest``), upload the CSV
(``PUT /jobs/ingest/{id}/batches``), close it (``PATCH`` state ``UploadComplete``), poll its
state (``GET``) with a growing pause until ``JobComplete``, ``Failed`` or ``Aborted``, then
read ``failedResults/`` and ``unprocessedrecords/`` (``successfulResults/`` on request). Five
calls and the polls per job of up to 100 MB, against one sObject Collections call per 200
records.
Source: Salesforce "Bulk API 2.0 and Bulk API Developer Guide", sections "Bulk API 2.0
Ingest", "Create a Job", "Upload Job Data", "Close or Abort a Job", "Get Job Info", "Get Job
Successful Record Results", "Get Job Failed Record Results", "Get Job Unprocessed Record
Results", "Limits".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.salesforce.bulk_csv import SF_ERROR, parse_csv, split_csv
from connectors.salesforce.client import SalesforceClient

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
TERMINAL = ("JobComplete", "Failed", "Aborted")


class BulkJobFailed(RuntimeError):
    """The job ended Failed or Aborted, or did not end in time (its state message says why)."""


@dataclass
class BulkOutcome:
    """What one upsert through Bulk API 2.0 did; rows are the result CSVs' rows."""

    job_ids: list[str] = field(default_factory=list)
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)  # with sf__Error
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0
    processed: int = 0  # numberRecordsProcessed of every job
    states: list[str] = field(default_factory=list)  # each job's final state

    @property
    def created(self) -> int:
        return sum(1 for row in self.successful if row.get("sf__Created") == "true")


class BulkIngest:
    def __init__(
        self,
        client: SalesforceClient,
        *,
        first_pause: float = 0.5,
        max_pause: float = 60.0,
        timeout: float = 3600.0,
        fetch_successful: bool = False,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.first_pause, self.max_pause, self.timeout = first_pause, max_pause, timeout
        self.sleep = sleep
        # The successful rows cost one more call; counts come with the job's info anyway.
        self.fetch_successful = fetch_successful
        self.calls = 0

    def _jobs(self, *parts: str) -> str:
        return "/".join([self.client.data_path, "jobs", "ingest", *parts])

    async def _call(self, method: str, path: str, label: str, **kwargs: Any) -> Any:
        self.calls += 1
        return await self.client.request(method, path, endpoint=f"bulk.{label}", **kwargs)

    async def create_job(self, obj: str, ext_field: str) -> str:
        body = {
            "object": obj,
            "externalIdFieldName": ext_field,
            "contentType": "CSV",
            "operation": "upsert",
            "lineEnding": "LF",
        }
        # Not retried: a lost answer would leave an Open job behind (it expires after 24 h).
        response = await self._call("POST", self._jobs(), "create", json=body, retry=False)
        return str(response.json()["id"])

    async def upload(self, job_id: str, data: bytes) -> None:
        headers = {"Content-Type": "text/csv"}
        await self._call(
            "PUT", self._jobs(job_id, "batches"), "upload", content=data, headers=headers
        )

    async def set_state(self, job_id: str, state: str) -> dict[str, Any]:
        response = await self._call("PATCH", self._jobs(job_id), "state", json={"state": state})
        info: dict[str, Any] = response.json()
        return info

    async def info(self, job_id: str) -> dict[str, Any]:
        response = await self._call("GET", self._jobs(job_id), "info")
        info: dict[str, Any] = response.json()
        return info

    async def wait(self, job_id: str, total: int) -> dict[str, Any]:
        """Poll until the job is in a terminal state. After the first look the pause is the
        time the job's own pace says the rest needs, so a long job costs a few polls."""
        pause, deadline = self.first_pause, time.monotonic() + self.timeout
        started = time.monotonic()
        while True:
            await self.sleep(pause)
            info = await self.info(job_id)
            if info.get("state") in TERMINAL:
                return info
            if time.monotonic() > deadline:
                raise BulkJobFailed(f"job {job_id} still {info.get('state')} after {self.timeout}s")
            done = int(info.get("numberRecordsProcessed") or 0)
            elapsed = time.monotonic() - started
            if done > 0 and elapsed > 0:
                pause = (total - done) / (done / elapsed) * 1.1 + self.first_pause
            else:
                pause *= 2
            pause = min(self.max_pause, max(self.first_pause, pause))

    async def results(self, job_id: str, kind: str) -> list[dict[str, str]]:
        """``successfulResults``, ``failedResults`` or ``unprocessedrecords``."""
        headers = {"Accept": "text/csv"}
        response = await self._call("GET", self._jobs(job_id, kind) + "/", kind, headers=headers)
        return parse_csv(response.content)

    async def upsert(self, obj: str, ext_field: str, records: list[dict[str, Any]]) -> BulkOutcome:
        """Upsert ``records`` by ``ext_field``; per-row outcomes in the result files."""
        outcome = BulkOutcome()
        before = self.calls
        for data, chunk in split_csv(records, MAX_UPLOAD_BYTES):
            job_id = await self.create_job(obj, ext_field)
            outcome.job_ids.append(job_id)
            try:
                await self.upload(job_id, data)
                await self.set_state(job_id, "UploadComplete")
            except BaseException:
                await self._abort_quietly(job_id)
                raise
            info = await self.wait(job_id, len(chunk))
            outcome.states.append(str(info.get("state")))
            outcome.processed += int(info.get("numberRecordsProcessed") or 0)
            if self.fetch_successful:
                outcome.successful += await self.results(job_id, "successfulResults")
            outcome.failed += await self.results(job_id, "failedResults")
            outcome.unprocessed += await self.results(job_id, "unprocessedrecords")
        outcome.calls = self.calls - before
        return outcome

    async def _abort_quietly(self, job_id: str) -> None:
        try:
            await self.set_state(job_id, "Aborted")
        except Exception:  # the original error is the one to raise
            return


def row_error(row: dict[str, str]) -> str:
    return row.get(SF_ERROR) or "unprocessed: the job ended before this row"
