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


# -- discovery (REST API Developer Guide: Versions, Describe Global, sObject Describe) --------


class ApiVersion(BaseModel):
    version: str
    label: str
    url: str


class SObjectSummary(BaseModel):
    name: str
    label: str = ""
    custom: bool = False
    keyPrefix: str | None = None
    queryable: bool = True
    createable: bool = True
    updateable: bool = True
    urls: dict[str, str] = Field(default_factory=dict)


class DescribeGlobal(BaseModel):
    encoding: str = "UTF-8"
    maxBatchSize: int = 200
    sobjects: list[SObjectSummary] = Field(default_factory=list)


class PicklistValue(BaseModel):
    value: str
    label: str | None = None
    active: bool = True
    defaultValue: bool = False


class FieldDescribe(BaseModel):
    name: str
    type: str
    label: str = ""
    length: int = 0
    externalId: bool = False
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    unique: bool = False
    picklistValues: list[PicklistValue] = Field(default_factory=list)
    restrictedPicklist: bool = False
    referenceTo: list[str] = Field(default_factory=list)
    relationshipName: str | None = None

    def active_values(self) -> set[str]:
        return {p.value for p in self.picklistValues if p.active}


class SObjectDescribe(SObjectSummary):
    fields: list[FieldDescribe] = Field(default_factory=list)

    def field(self, name: str) -> FieldDescribe | None:
        """Field names are case-insensitive in the API."""
        wanted = name.lower()
        return next((f for f in self.fields if f.name.lower() == wanted), None)
