"""Salesforce REST connector (API v62.0): settings, client, error table, models, emulator."""

from connectors.salesforce.client import SalesforceClient, jwt_assertion
from connectors.salesforce.errors import SALESFORCE_ERRORS, error_from_response, record_error
from connectors.salesforce.models import ApiUsage, RecordError, RecordResult, UpsertResult
from connectors.salesforce.settings import SalesforceSettings

__all__ = [
    "SALESFORCE_ERRORS",
    "ApiUsage",
    "RecordError",
    "RecordResult",
    "SalesforceClient",
    "SalesforceSettings",
    "UpsertResult",
    "error_from_response",
    "jwt_assertion",
    "record_error",
]
