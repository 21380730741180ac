"""``SalesforceClient``: REST API v62.0 over httpx, on the shared ``ApiClient`` base.

Authenticates with the client credentials or the JWT bearer flow, moves to the
``instance_url`` the token names, re-authenticates once on INVALID_SESSION_ID (base), tracks
``Sforce-Limit-Info`` and returns per-record results for sObject Collections so a caller can
dead-letter the failures and keep the rest (retrieve, update and create by id: collections.py).
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import jwt

from connectors.base.errors import ConnectorError
from connectors.base.observer import observer
from connectors.base.paths import path_segment
from connectors.base.retry import RetryPolicy
from connectors.salesforce.collections import COLLECTION_LIMIT, SObjectCollections
from connectors.salesforce.errors import SYSTEM, error_from_response
from connectors.salesforce.models import (
    ApiUsage,
    ApiVersion,
    DescribeGlobal,
    QueryResult,
    RecordResult,
    SaveResult,
    SObjectDescribe,
    TokenResponse,
    UpsertResult,
)
from connectors.salesforce.settings import SalesforceSettings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_DUPLICATE_ID = re.compile(r"record with id: ([a-zA-Z0-9]{15,18})")


def jwt_assertion(settings: SalesforceSettings, now: float | None = None) -> str:
    """The signed assertion of the JWT bearer flow (three minutes, the most Salesforce allows)."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": settings.client_id,
        "sub": settings.username,
        "aud": settings.jwt_audience or settings.login_url.rstrip("/"),
        "exp": issued + 180,
    }
    return jwt.encode(claims, settings.private_key_pem(), algorithm="RS256")


class SalesforceClient(SObjectCollections):
    system = SYSTEM

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        problem = settings.credentials_problem()
        if problem:
            raise ValueError(f"salesforce settings: {problem}")
        super().__init__(
            settings.login_url, timeout=settings.timeout, retry=retry, transport=transport
        )
        self.settings = settings
        self.api_usage: ApiUsage | None = None
        self.api_usage_at: float | None = None  # time.monotonic() of the header last read
        self.instance_url: str | None = None

    @classmethod
    def from_settings(
        cls, settings: SalesforceSettings | None = None, **kwargs: Any
    ) -> SalesforceClient:
        return cls(settings or SalesforceSettings(), **kwargs)

    async def __aenter__(self) -> SalesforceClient:  # base annotates ApiClient, not Self
        return self

    @property
    def data_path(self) -> str:
        return f"/services/data/{self.settings.api_version}"

    # -- ApiClient hooks -------------------------------------------------------------------

    def _token_form(self) -> dict[str, str]:
        s = self.settings
        if s.auth_flow == "jwt_bearer":
            return {"grant_type": JWT_GRANT, "assertion": jwt_assertion(s)}
        assert s.client_secret is not None
        return {
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
        }

    async def authenticate(self) -> dict[str, str]:
        token_url = self.settings.login_url.rstrip("/") + "/services/oauth2/token"
        started = time.perf_counter()
        response = await self.http.post(token_url, data=self._token_form())
        error = error_from_response(response)
        self.report("oauth2.token", error, time.perf_counter() - started)
        if error is not None:
            raise error
        token = TokenResponse.model_validate(response.json())
        self.instance_url = token.instance_url.rstrip("/")
        self.http.base_url = httpx.URL(self.instance_url)
        return {
            "Authorization": f"Bearer {token.access_token}",
            "Sforce-Call-Options": f"client={self.settings.call_options_client}",
        }

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        return error_from_response(response)

    def observe(self, response: httpx.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match is None:
            return
        self.api_usage = ApiUsage(int(match.group(1)), int(match.group(2)))
        self.api_usage_at = time.monotonic()
        observer().salesforce_limits(self.api_usage.used, self.api_usage.limit)

    # -- sObject rows ------------------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        """Under the data path; each part one escaped segment (RecordError when unusable)."""
        return self.data_path + "".join("/" + path_segment(p, system=self.system) for p in parts)

    def _sobject_path(self, obj: str, *parts: str) -> str:
        return self._path("sobjects", obj, *parts)

    async def create(
        self, obj: str, fields: dict[str, Any], *, duplicates_are_success: bool = False
    ) -> str:
        """The new record's id. With ``duplicates_are_success``, a DUPLICATE_VALUE on a unique
        field answers the id of the record that already holds the value."""
        try:
            response = await self.request(
                "POST", self._sobject_path(obj), endpoint="sobjects.create", json=fields
            )
        except ConnectorError as exc:
            found = _DUPLICATE_ID.search(exc.message) if exc.code == "DUPLICATE_VALUE" else None
            if duplicates_are_success and found:
                return found.group(1)  # the existing record: a success, never raised
            raise
        return SaveResult.model_validate(response.json()).id

    async def get(
        self, obj: str, record_id: str, fields: list[str] | None = None
    ) -> dict[str, Any] | None:
        """The record (without ``attributes``), or None when it does not exist."""
        params = {"fields": ",".join(fields)} if fields else None
        try:
            response = await self.request(
                "GET", self._sobject_path(obj, record_id), endpoint="sobjects.get", params=params
            )
        except ConnectorError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise
        record: dict[str, Any] = response.json()
        record.pop("attributes", None)
        return record

    async def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> None:
        await self.request(
            "PATCH", self._sobject_path(obj, record_id), endpoint="sobjects.update", json=fields
        )

    async def delete(self, obj: str, record_id: str) -> None:
        await self.request("DELETE", self._sobject_path(obj, record_id), endpoint="sobjects.delete")

    async def upsert(
        self, obj: str, ext_field: str, ext_value: str, fields: dict[str, Any]
    ) -> UpsertResult:
        """Insert or update by external id. Raises a DEAD_LETTER error when it matches several."""
        body = {k: v for k, v in fields.items() if k.lower() != ext_field.lower()}
        response = await self.request(
            "PATCH",
            self._sobject_path(obj, ext_field, ext_value),
            endpoint="sobjects.upsert",
            json=body,
        )
        if response.status_code == 204 or not response.content:  # API < 46.0 answered 204
            return UpsertResult(id=None, success=True, created=False)
        return UpsertResult.model_validate(response.json())

    # -- sObject Collections ---------------------------------------------------------------

    async def upsert_collection(
        self,
        obj: str,
        ext_field: str,
        records: list[dict[str, Any]],
        all_or_none: bool = False,
    ) -> list[RecordResult]:
        """One result per record, in order. Sends 200 records per call; records that failed
        with a retriable error (UNABLE_TO_LOCK_ROW) are resent, the rest are left to the caller."""
        if all_or_none and len(records) > COLLECTION_LIMIT:
            raise ValueError(f"all_or_none needs at most {COLLECTION_LIMIT} records per call")
        results: list[RecordResult] = []
        for start in range(0, len(records), COLLECTION_LIMIT):
            chunk = records[start : start + COLLECTION_LIMIT]
            results.extend(await self._upsert_chunk(obj, ext_field, chunk, all_or_none))
        return results

    async def _upsert_chunk(
        self, obj: str, ext_field: str, records: list[dict[str, Any]], all_or_none: bool
    ) -> list[RecordResult]:
        results: list[RecordResult | None] = [None] * len(records)

        async def send(pending: list[int]) -> list[RecordResult]:
            chunk = [records[i] for i in pending]
            return await self._send_collection(obj, ext_field, chunk, all_or_none)

        indexes = list(range(len(records)))
        await self._resend_retriable(
            "composite.sobjects.upsert", send, indexes, results, all_or_none
        )
        return [r for r in results if r is not None]

    async def _send_collection(
        self, obj: str, ext_field: str, records: list[dict[str, Any]], all_or_none: bool
    ) -> list[RecordResult]:
        body = {
            "allOrNone": all_or_none,
            "records": [{"attributes": {"type": obj}, **r} for r in records],
        }
        path = self._path("composite", "sobjects", obj, ext_field)
        response = await self.request(
            "PATCH", path, endpoint="composite.sobjects.upsert", json=body
        )
        return [RecordResult.model_validate(item) for item in response.json()]

    async def refresh_api_usage(self) -> None:
        """One call to ``/limits`` (it counts, like every REST call) for its
        ``Sforce-Limit-Info``. Raises like any call, but ``api_usage`` is updated first
        whenever the answer carries the header (a 403 REQUEST_LIMIT_EXCEEDED does)."""
        await self.request("GET", self._path("limits"), endpoint="limits", retry=False)

    # -- discovery ---------------------------------------------------------------------------

    async def versions(self) -> list[ApiVersion]:
        """Every API version the org serves (``GET /services/data/``)."""
        response = await self.request("GET", "/services/data/", endpoint="versions")
        return [ApiVersion.model_validate(item) for item in response.json()]

    async def describe_global(self) -> DescribeGlobal:
        response = await self.request("GET", self._path("sobjects"), endpoint="describe.global")
        return DescribeGlobal.model_validate(response.json())

    async def describe(self, obj: str) -> SObjectDescribe | None:
        """The object's fields as the org sees them, or None when it has no such object."""
        try:
            response = await self.request(
                "GET", self._sobject_path(obj, "describe"), endpoint="sobjects.describe"
            )
        except ConnectorError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise
        return SObjectDescribe.model_validate(response.json())

    # -- SOQL --------------------------------------------------------------------------------

    async def _query_page(self, path: str, params: dict[str, str] | None) -> QueryResult:
        response = await self.request("GET", path, endpoint="query", params=params)
        return QueryResult.model_validate(response.json())

    async def query(self, soql: str, *, keep_attributes: bool = False) -> list[dict[str, Any]]:
        """All matching records, following ``nextRecordsUrl`` (2000 per page)."""
        page = await self._query_page(self._path("query"), {"q": soql})
        records = list(page.records)
        while not page.done and page.nextRecordsUrl:
            page = await self._query_page(page.nextRecordsUrl, None)
            records.extend(page.records)
        if not keep_attributes:
            for record in records:
                record.pop("attributes", None)
        return records

    async def count(self, soql: str) -> int:
        """``totalSize`` of a ``SELECT COUNT() FROM ...`` query."""
        page = await self._query_page(self._path("query"), {"q": soql})
        return page.totalSize
