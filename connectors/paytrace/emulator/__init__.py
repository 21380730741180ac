"""A local PayTrace v1 JSON API for tests and demos: ``create_app(EmulatorConfig(...))``."""

from connectors.paytrace.emulator.app import create_app
from connectors.paytrace.emulator.config import EmulatorConfig

__all__ = ["EmulatorConfig", "create_app"]
