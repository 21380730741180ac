"""Sage Pro connector: our own REST contract (Sage Pro has none), client, and emulator."""

from connectors.sagepro.backend import SageProBackend
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.errors import ERROR_TABLE, SageProError, classify_response
from connectors.sagepro.settings import SageProSettings

__all__ = [
    "ERROR_TABLE",
    "SageProBackend",
    "SageProError",
    "SageProRestClient",
    "SageProSettings",
    "classify_response",
]
