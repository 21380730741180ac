"""sObject Collections by record id: retrieve, update and create many records per call.

REST API Developer Guide, "sObject Collections": retrieve is ``GET composite/sobjects/{type}
?ids=...&fields=...`` (one element per id, ``null`` for an id it cannot return); update is
``PATCH composite/sobjects`` and create ``POST composite/sobjects``, each with
``{"allOrNone": ..., "records": [{"attributes": {"type": ...}, ...}]}`` of at most 200 records,
answered by one SaveResult per record, in order. A request mixing types is processed in chunks
(a type change starts one), at most 10 per request.

Kept apart from client.py (which mixes this class in) so each module stays small.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from connectors.base.http import ApiClient
from connectors.base.observer import observer
from connectors.salesforce.errors import record_error
from connectors.salesforce.models import RecordResult

COLLECTION_LIMIT = 200  # records per create/update call; ids per retrieve call (our choice)
MAX_CHUNKS = 10  # type runs per create/update call


def request_groups(types: Sequence[str]) -> list[list[int]]:
    """Indexes of ``types`` in requests: grouped by type (a chunk per type, not per change),
    at most 200 records and 10 types per request."""
    order = sorted(range(len(types)), key=lambda i: (types[i], i))
    groups: list[list[int]] = []
    current: list[int] = []
    seen: set[str] = set()
    for index in order:
        new_type = types[index] not in seen
        if current and (len(current) >= COLLECTION_LIMIT or (new_type and len(seen) >= MAX_CHUNKS)):
            groups.append(current)
            current, seen = [], set()
        current.append(index)
        seen.add(types[index])
    if current:
        groups.append(current)
    return groups


class SObjectCollections(ApiClient):
    """The by-id collection calls of ``SalesforceClient``."""

    def _path(self, *parts: str) -> str:
        raise NotImplementedError  # SalesforceClient's: under the data path, escaped

    async def retrieve_collection(
        self, obj: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any] | None]:
        """One element per id, in order: the record (without ``attributes``), or None for an
        id Salesforce cannot return (deleted, of another type, not visible)."""
        found: list[dict[str, Any] | None] = []
        path = self._path("composite", "sobjects", obj)
        for start in range(0, len(ids), COLLECTION_LIMIT):
            chunk = ids[start : start + COLLECTION_LIMIT]
            params = {"ids": ",".join(chunk), "fields": ",".join(fields)}
            response = await self.request(
                "GET", path, endpoint="composite.sobjects.retrieve", params=params
            )
            for item in response.json():
                if isinstance(item, dict):
                    item.pop("attributes", None)
                    found.append(item)
                else:
                    found.append(None)
        return found

    async def update_collection(
        self, records: Sequence[tuple[str, str, dict[str, Any]]], all_or_none: bool = False
    ) -> list[RecordResult]:
        """``(type, id, fields)`` per record; one SaveResult per record, in order."""
        bodies = [{"attributes": {"type": t}, "id": rid, **f} for t, rid, f in records]
        return await self._save(
            "PATCH", [t for t, _, _ in records], bodies, all_or_none, retry=True
        )

    async def create_collection(
        self, records: Sequence[tuple[str, dict[str, Any]]], all_or_none: bool = False
    ) -> list[RecordResult]:
        """``(type, fields)`` per record; one SaveResult per record (the new id), in order.
        Never resent on a lost answer: the caller finds what was made (e.g. by a subject)."""
        bodies = [{"attributes": {"type": t}, **f} for t, f in records]
        return await self._save("POST", [t for t, _ in records], bodies, all_or_none, retry=False)

    async def _save(
        self,
        method: str,
        types: list[str],
        bodies: list[dict[str, Any]],
        all_or_none: bool,
        *,
        retry: bool,
    ) -> list[RecordResult]:
        if all_or_none and len(request_groups(types)) > 1:
            raise ValueError(f"all_or_none needs one request: at most {COLLECTION_LIMIT} records")
        results: list[RecordResult | None] = [None] * len(bodies)
        for group in request_groups(types):
            await self._save_group(method, bodies, group, results, all_or_none, retry)
        return [r if r is not None else RecordResult(success=False) for r in results]

    async def _save_group(
        self,
        method: str,
        bodies: list[dict[str, Any]],
        group: list[int],
        results: list[RecordResult | None],
        all_or_none: bool,
        retry: bool,
    ) -> None:
        endpoint = "composite.sobjects.update" if method == "PATCH" else "composite.sobjects.create"
        path = self._path("composite", "sobjects")

        async def send(pending: list[int]) -> list[RecordResult]:
            body = {"allOrNone": all_or_none, "records": [bodies[i] for i in pending]}
            response = await self.request(method, path, endpoint=endpoint, json=body, retry=retry)
            return [RecordResult.model_validate(item) for item in response.json()]

        await self._resend_retriable(endpoint, send, group, results, all_or_none)

    async def _resend_retriable(
        self,
        endpoint: str,
        send: Callable[[list[int]], Awaitable[list[RecordResult]]],
        indexes: list[int],
        results: list[RecordResult | None],
        all_or_none: bool,
    ) -> None:
        """``send`` the records at ``indexes`` (one request) and store each one's result.
        Records refused with a retriable error (UNABLE_TO_LOCK_ROW) were not written, so they
        are sent again; any other failure is left to the caller. Every collection call
        (update, create, and the client's upsert by external id) goes through here."""
        policy, pending = self.retry_policy, indexes
        for attempt in range(policy.attempts):
            again: list[int] = []
            for index, result in zip(pending, await send(pending), strict=True):
                results[index] = result
                error = record_error(result)
                if error is not None and error.retriable:
                    again.append(index)
            if not again or attempt == policy.attempts - 1:
                return
            if all_or_none and len(again) != len(pending):
                return  # a record that can never succeed rolled the rest back: caller decides
            observer().retry(self.system, endpoint)
            await asyncio.sleep(min(policy.max_seconds, policy.initial_seconds * 2**attempt))
            pending = again
