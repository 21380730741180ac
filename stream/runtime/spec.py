"""One entry of the topology: a flow's class and what it reads, writes and keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FlowSpec:
    name: str  # the agent name: metric label, dead-letter header, Faust agent/timer name
    cls: type[Any]  # a stream.runtime.base.Flow subclass (not imported: base imports this)
    reads: tuple[str, ...]  # logical topics (stream/topic_names.py) or external systems
    writes: tuple[str, ...]
    tables: tuple[str, ...] = ()
    replay_sink: str | None = None  # the name `paystream replay payments --sink` uses
    dashboard: str | None = None  # the Grafana dashboard its panels go on (scripts/)

    @property
    def kind(self) -> str:
        kind: str = self.cls.kind
        return kind
