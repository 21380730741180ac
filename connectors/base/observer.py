"""What connector clients report about their calls, to whoever wants to know.

Connectors stand alone: they never import the worker's metrics. A worker installs an
observer (stream/metrics.py: ``install_connector_observer``); until one is installed the
reports go nowhere.
"""

from __future__ import annotations

from typing import Protocol


class ConnectorObserver(Protocol):
    def call(self, system: str, endpoint: str, outcome: str, seconds: float | None) -> None:
        """One finished call: ``outcome`` is "ok", "transport_error" or the error's action;
        ``seconds`` is None when the time was reported apart (a streaming call)."""

    def retry(self, system: str, endpoint: str) -> None:
        """A failed call is about to be tried again."""

    def throttled(self, system: str) -> None:
        """A call was refused for a rate or quota limit."""

    def salesforce_limits(self, used: int, limit: int) -> None:
        """The org's API usage, from ``Sforce-Limit-Info``."""


class NoObserver:
    """The default: reports are dropped."""

    def call(self, system: str, endpoint: str, outcome: str, seconds: float | None) -> None:
        pass

    def retry(self, system: str, endpoint: str) -> None:
        pass

    def throttled(self, system: str) -> None:
        pass

    def salesforce_limits(self, used: int, limit: int) -> None:
        pass


_observer: ConnectorObserver = NoObserver()


def set_observer(observer: ConnectorObserver | None) -> None:
    """Install ``observer`` for every client in this process (None: back to the no-op)."""
    global _observer
    _observer = observer if observer is not None else NoObserver()


def observer() -> ConnectorObserver:
    return _observer
