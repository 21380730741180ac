"""PayTrace (v1 JSON API): typed client, error table, settings and a local emulator.

PayTrace has no webhooks; paystream ingests it by polling the transaction exports.
"""

from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.settings import PayTraceSettings

__all__ = ["PayTraceClient", "PayTraceSettings"]
