"""Which flow of the topology the current task is running: the label its external calls are
counted under (``paystream_external_calls_by_flow_total``). A flow's agent and timers set it
(``Flow.as_flow``); tasks they create inherit it. Calls made outside any flow (the API budget's
usage refresh, the liveness probes) count as ``worker``."""

from __future__ import annotations

from contextvars import ContextVar

OUTSIDE_FLOWS = "worker"
_RUNNING: ContextVar[str] = ContextVar("paystream_running_flow", default=OUTSIDE_FLOWS)


def running_flow() -> str:
    return _RUNNING.get()


def enter(name: str) -> None:
    """The current task (and the tasks it creates from now on) runs flow ``name``."""
    _RUNNING.set(name)
