"""The Sage Pro emulator: our REST contract served from SQLite, with real accounting rules."""

from connectors.sagepro.emulator.app import EmulatorConfig, create_app

__all__ = ["EmulatorConfig", "create_app"]
