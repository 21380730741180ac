"""One entry of the topology: a flow's class and what it reads, writes and keeps."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

CORE_LANE = "core"  # where a flow runs unless its entry names a lane of its own


class BudgetRole(StrEnum):
    """What a flow that spends Salesforce API calls does while the org's daily budget is
    nearly spent (stream/runtime/api_budget.py)."""

    URGENT = "urgent"  # keeps writing as it does: each record is its own calls (charges)
    FILL = "fill"  # keeps writing, but waits to fill sObject Collections calls of 200
    PAUSE = "pause"  # not urgent: waits until usage falls below the share again


@dataclass(frozen=True)
class FlowSpec:
    name: str  # the agent name: metric label, dead-letter header, Faust agent/timer name
    cls: type[Any]  # a stream.runtime.base.Flow subclass (not imported: base imports this)
    reads: tuple[str, ...]  # logical topics (stream/topic_names.py) or external systems
    writes: tuple[str, ...]
    tables: tuple[str, ...] = ()
    replay_sink: str | None = None  # the name `paystream replay payments --sink` uses
    dashboard: str | None = None  # the Grafana dashboard its panels go on (scripts/)
    salesforce_budget: BudgetRole | None = None  # None: it spends no Salesforce REST calls
    # The lane it runs in: a worker runs every lane unless PAYSTREAM_WORKER_LANES picks some,
    # and a worker of some lanes is a consumer group of its own (stream/topology.py).
    lane: str = CORE_LANE

    @property
    def kind(self) -> str:
        kind: str = self.cls.kind
        return kind
