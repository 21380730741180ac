"""Response bodies of the Salesforce REST API, as pydantic models.

Field names follow the API's JSON exactly so documented example bodies validate as they are.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field


class ApiUsage(NamedTuple):
    """From ``Sforce-Limit-Info: api-usage=used/limit``."""

    used: int
    limit: int


class TokenResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    access_token: str
    instance_url: str
    token_type: str = "Bearer"
    id: str | None = None
    issued_at: str | None = None
    signature: str | None = None
    scope: str | None = None


class OAuthError(BaseModel):
    error: str
    error_description: str = ""


class ApiError(BaseModel):
    """One element of a REST error body: ``[{"message", "errorCode", "fields"}]``."""

    message: str = ""
    errorCode: str
    fields: list[str] = Field(default_factory=list)


class RecordError(BaseModel):
    """One error inside a collection result: ``{"statusCode", "message", "fields"}``."""

    statusCode: str
    message: str = ""
    fields: list[str] = Field(default_factory=list)


class RecordResult(BaseModel):
    """A per-record result of sObject Collections (SaveResult / UpsertResult)."""

    id: str | None = None
    success: bool
    errors: list[RecordError] = Field(default_factory=list)
    created: bool | None = None


class UpsertResult(BaseModel):
    """A single upsert by external id (``created`` says insert vs update)."""

    id: str | None = None
    success: bool = True
    errors: list[RecordError] = Field(default_factory=list)
    created: bool = False


class SaveResult(BaseModel):
    id: str
    success: bool
    errors: list[Any] = Field(default_factory=list)


class QueryResult(BaseModel):
    totalSize: int
    done: bool
    nextRecordsUrl: str | None = None
    records: list[dict[str, Any]] = Field(default_factory=list)
