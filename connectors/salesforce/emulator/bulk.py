"""Bulk API 2.0 ingest routes (``/services/data/vXX.X/jobs/ingest``): create, upload, close or
abort, job info, and the three result files. Jobs run in the background like Salesforce's
queue, through the same record writes as sObject Collections (validation, duplicate rules,
change events), 200 rows at a time. Each request is one API call, counted by the app's
middleware like every REST call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from connectors.base.emulator import json_response
from connectors.salesforce.bulk_csv import (
    NULL,
    SF_CREATED,
    SF_ERROR,
    SF_ID,
    build_csv,
    parse_csv,
)
from connectors.salesforce.emulator.bulk_jobs import (
    MAX_UPLOAD_BYTES,
    BulkJob,
    DailyRecords,
    JobStateError,
    result_error,
)
from connectors.salesforce.emulator.changes import change_origin
from connectors.salesforce.emulator.faults import SalesforceApiError
from connectors.salesforce.emulator.schema import resolve_object
from connectors.salesforce.emulator.state import STATE

BASE = "/services/data/{version:v[0-9]+\\.[0-9]}/jobs/ingest"
CHUNK = 200


class BulkState:
    def __init__(self) -> None:
        self.jobs: dict[str, BulkJob] = {}
        self.daily = DailyRecords()
        self.tasks: set[asyncio.Task[None]] = set()


BULK = web.AppKey("salesforce_bulk", BulkState)


def _job(request: web.Request) -> BulkJob:
    job = request.app[BULK].jobs.get(request.match_info["job_id"])
    if job is None:
        raise SalesforceApiError.one(404, "NOT_FOUND", "The requested resource does not exist")
    return job


def _refused(error: JobStateError) -> SalesforceApiError:
    return SalesforceApiError.one(error.status, error.code, error.message)


async def create_job(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError as exc:
        raise SalesforceApiError.one(400, "JSON_PARSER_ERROR", "Invalid JSON body") from exc
    state = request.app[STATE]
    obj = resolve_object(state.schema, str(body.get("object") or ""))
    if obj is None:
        raise SalesforceApiError.one(
            400, "INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API"
        )
    operation = body.get("operation")
    if operation != "upsert":
        raise SalesforceApiError.one(
            400, "FEATURENOTENABLED", f"operation {operation!r}: this emulator does upsert only"
        )
    ext = state.org.external_id_field(obj, str(body.get("externalIdFieldName") or ""))
    if body.get("contentType", "CSV") != "CSV":
        raise SalesforceApiError.one(400, "INVALIDJOB", "contentType must be CSV")
    job = BulkJob(object=obj.name, external_id_field=ext, operation=operation)
    request.app[BULK].jobs[job.id] = job
    return json_response(job.info(request.match_info["version"]))


async def upload(request: web.Request) -> web.Response:
    job = _job(request)
    if request.content_type != "text/csv":
        raise SalesforceApiError.one(400, "INVALIDJOB", "Content-Type must be text/csv")
    try:
        job.upload(await _body(request))
    except JobStateError as error:
        raise _refused(error) from error
    return web.Response(status=201)


async def _body(request: web.Request) -> bytes:
    """The upload, up to the job limit (aiohttp's 1 MB request limit is for the REST routes:
    the stream is read directly, and one byte past 150 MB is enough to refuse it)."""
    chunks, size = [], 0
    while size <= MAX_UPLOAD_BYTES:
        chunk = await request.content.read(1024 * 1024)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def patch_job(request: web.Request) -> web.Response:
    job = _job(request)
    body = await request.json()
    try:
        job.change_state(str(body.get("state")))
    except JobStateError as error:
        raise _refused(error) from error
    if job.state == "UploadComplete":
        origin = change_origin(request.match_info["version"], _client(request))
        task = asyncio.ensure_future(_process(request.app, job, origin))
        request.app[BULK].tasks.add(task)
        task.add_done_callback(request.app[BULK].tasks.discard)
    return json_response(job.info(request.match_info["version"]))


def _client(request: web.Request) -> str | None:
    for option in request.headers.get("Sforce-Call-Options", "").split(","):
        key, _, value = option.strip().partition("=")
        if key == "client" and value:
            return value
    return None


async def job_info(request: web.Request) -> web.Response:
    return json_response(_job(request).info(request.match_info["version"]))


async def delete_job(request: web.Request) -> web.Response:
    job = _job(request)
    if job.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
        raise SalesforceApiError.one(409, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}")
    del request.app[BULK].jobs[job.id]
    return web.Response(status=204)


def _results(kind: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        job = _job(request)
        try:
            job.results_allowed(kind)
        except JobStateError as error:
            raise _refused(error) from error
        if kind == "successfulResults":
            rows, head = job.successful, [SF_ID, SF_CREATED]
        elif kind == "failedResults":
            rows, head = job.failed, [SF_ID, SF_ERROR]
        elif job.records_processed == 0 and job.data and not job.unprocessed:
            rows = parse_csv(job.data)  # aborted before the queue picked it up: all of it
            job.columns = list(rows[0]) if rows else []
            head = []
        else:
            rows, head = job.unprocessed, []
        body = build_csv(rows, [*head, *job.columns])
        return web.Response(body=body, content_type="text/csv", charset="utf-8")

    return handler


def _values(row: dict[str, str]) -> dict[str, Any]:
    """CSV text to field values: empty leaves a field as it is, #N/A sets null."""
    return {k: (None if v == NULL else v) for k, v in row.items() if v != ""}


async def _process(app: web.Application, job: BulkJob, origin: str) -> None:
    """Salesforce's queue: picks the job up, writes it in chunks, ends it."""
    await asyncio.sleep(0)  # the close request answers UploadComplete first
    if not job.start():
        return
    state = app[STATE]
    rows = parse_csv(job.data or b"")
    job.columns = list(rows[0]) if rows else []
    obj = resolve_object(state.schema, job.object)
    assert obj is not None  # checked at create
    granted = app[BULK].daily.take(len(rows), time.time())
    try:
        for start in range(0, granted, CHUNK):
            if job.state == "Aborted":
                break
            chunk = rows[start : min(start + CHUNK, granted)]
            records = [{"attributes": {"type": obj.name}, **_values(r)} for r in chunk]
            outcomes = await state.org.upsert_collection(
                obj, job.external_id_field, records, False, origin
            )
            for row, outcome in zip(chunk, outcomes, strict=True):
                job.records_processed += 1
                if outcome.errors:
                    job.records_failed += 1
                    error = outcome.errors[0]
                    message = result_error(error.code, error.message, error.fields)
                    job.failed.append({SF_ID: outcome.record_id or "", SF_ERROR: message, **row})
                else:
                    created = "true" if outcome.created else "false"
                    job.successful.append(
                        {SF_ID: outcome.record_id or "", SF_CREATED: created, **row}
                    )
            await asyncio.sleep(0)  # let info and abort requests in between chunks
    except Exception as exc:  # the job fails; what was not written is unprocessed
        job.fail(f"InternalServerError: {exc}")
    done = job.records_processed
    job.unprocessed = rows[done:]
    if job.state == "InProgress" and granted < len(rows):
        job.fail("Exceeded the rolling 24-hour limit of Bulk API 2.0 records processed")
    job.finish()


def add_bulk_routes(app: web.Application) -> None:
    app[BULK] = BulkState()
    r = app.router
    r.add_post(BASE, create_job)
    r.add_post(BASE + "/", create_job)
    r.add_put(BASE + "/{job_id}/batches", upload)
    r.add_put(BASE + "/{job_id}/batches/", upload)
    r.add_patch(BASE + "/{job_id}", patch_job)
    r.add_get(BASE + "/{job_id}", job_info)
    r.add_delete(BASE + "/{job_id}", delete_job)
    for kind in ("successfulResults", "failedResults", "unprocessedrecords"):
        r.add_get(BASE + "/{job_id}/" + kind, _results(kind))
        r.add_get(BASE + "/{job_id}/" + kind + "/", _results(kind))
