"""An emulated Salesforce org speaking REST API v62.0 over aiohttp, state in SQLite."""

from connectors.salesforce.emulator.app import create_app
from connectors.salesforce.emulator.config import EmulatorConfig

__all__ = ["EmulatorConfig", "create_app"]
