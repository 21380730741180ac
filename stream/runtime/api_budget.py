"""The Salesforce org's daily API budget, as one worker sees it.

Salesforce answers every REST call with ``Sforce-Limit-Info: api-usage=used/max`` (the org's
requests over the last 24 hours) and refuses calls past max with 403 REQUEST_LIMIT_EXCEEDED
until the window moves on. Above ``PAYSTREAM_SALESFORCE_API_BUDGET_SHARE`` of max the budget is
*tight*, and each flow acts by its topology entry's ``salesforce_budget`` (spec.BudgetRole):
urgent flows spend as before, collection writers wait to fill calls of 200 (runtime/fill.py),
and the rest pause until usage falls. It leaves the tight state a little below the share
(``RESUME_MARGIN``), so usage hovering at the share does not flip it on every call.

Usage is read from the worker's shared Salesforce client (every call updates it). One call to
``/limits`` reads it when no call has yet; and while the budget is tight a paused flow makes
no calls of its own, so when nothing else refreshed the header within ``..._RECHECK_SECONDS``
one call does: that is how it learns a new day began.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connectors.salesforce.settings import SalesforceSettings
from stream import metrics
from stream.runtime.spec import BudgetRole

if TYPE_CHECKING:
    from stream.context import PipelineContext

log = logging.getLogger(__name__)
RESUME_MARGIN = 0.02  # leave the tight state this far below the share
WAIT_STEP_SECONDS = 1.0  # how often a paused flow looks again (no call unless the header is old)
SLOWED = (BudgetRole.FILL, BudgetRole.PAUSE)


def _default(name: str) -> Any:
    return SalesforceSettings.model_fields[name].default


class ApiBudget:
    def __init__(
        self,
        share: float,
        linger_seconds: float,
        recheck_seconds: float,
        client: Callable[[], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = share
        self.linger_seconds = linger_seconds
        self.recheck_seconds = recheck_seconds
        self._client = client  # the worker's SalesforceClient, made on first use
        self._clock = clock
        self.flows: dict[str, BudgetRole] = {}
        self.tight = False
        self._refreshing = asyncio.Lock()
        self._refreshed_at: float | None = None

    @classmethod
    def from_settings(
        cls, settings: SalesforceSettings | None, client: Callable[[], Any]
    ) -> ApiBudget:
        if settings is None:  # a context without Salesforce settings (unit tests' fakes)
            return cls(
                _default("api_budget_share"),
                _default("api_budget_linger_seconds"),
                _default("api_budget_recheck_seconds"),
                client,
            )
        return cls(
            settings.api_budget_share,
            settings.api_budget_linger_seconds,
            settings.api_budget_recheck_seconds,
            client,
        )

    def register(self, flow: str, role: BudgetRole) -> None:
        self.flows[flow] = role
        metrics.API_BUDGET_THROTTLED.labels(flow).set(int(self.tight and role in SLOWED))

    # -- reading usage ---------------------------------------------------------------------
    def usage(self) -> tuple[int, int, float | None] | None:
        """(used, max, when it was read) from the client's last header; None before any."""
        client = self._client()
        usage = getattr(client, "api_usage", None)
        if usage is None:
            return None
        return int(usage.used), int(usage.limit), getattr(client, "api_usage_at", None)

    def check(self) -> bool:
        """Tight or not by the last header seen; logs and exports a change of state."""
        usage = self.usage()
        if usage is None or usage[1] <= 0:
            return self.tight
        used, limit, _ = usage
        ratio = used / limit
        if not self.tight and ratio > self.share:
            self._change(True, used, limit)
        elif self.tight and ratio < self.share - RESUME_MARGIN:
            self._change(False, used, limit)
        return self.tight

    async def look(self) -> bool:
        """``check``, first refreshing the header with one call when none was seen yet, or
        when the budget is tight and nothing else refreshed it within the recheck interval
        (with room, the flow's own next call brings a fresh one)."""
        await self._refresh_if_needed()
        return self.check()

    async def wait_for_room(self) -> None:
        """Return once the budget is not tight (a paused flow waits here). Polled: usage is
        a header other flows' calls update, not an event anyone sends."""
        while True:
            if not await self.look():
                return
            await asyncio.sleep(min(WAIT_STEP_SECONDS, self.recheck_seconds))

    # -- internals -------------------------------------------------------------------------
    def _old(self, seen_at: float | None, now: float) -> bool:
        return seen_at is None or now - seen_at >= self.recheck_seconds

    def _needs_refresh(self) -> bool:
        usage = self.usage()
        return usage is None or (self.tight and self._old(usage[2], self._clock()))

    async def _refresh_if_needed(self) -> None:
        if not self._needs_refresh():
            return
        async with self._refreshing:  # one call for every flow waiting at once
            if not self._needs_refresh() or not self._old(self._refreshed_at, self._clock()):
                return
            self._refreshed_at = self._clock()
            refresh = getattr(self._client(), "refresh_api_usage", None)
            if refresh is None:
                return
            try:
                await refresh()
            except Exception as exc:  # a 403 past the limit still carried the header
                log.debug("Salesforce API usage refresh failed: %r", exc)

    def _change(self, tight: bool, used: int, limit: int) -> None:
        self.tight = tight
        for flow, role in self.flows.items():
            metrics.API_BUDGET_THROTTLED.labels(flow).set(int(tight and role in SLOWED))
        paused = ", ".join(f for f, r in self.flows.items() if r is BudgetRole.PAUSE) or "none"
        filling = ", ".join(f for f, r in self.flows.items() if r is BudgetRole.FILL) or "none"
        if tight:
            log.warning(
                "Salesforce API budget tight: %d of %d daily requests used (%.1f%%, above %.0f%%)"
                "; pausing %s; filling collections of 200 (up to %.0f s) for %s",
                used,
                limit,
                100 * used / limit,
                100 * self.share,
                paused,
                self.linger_seconds,
                filling,
            )
        else:
            log.warning(
                "Salesforce API budget has room again: %d of %d daily requests used (%.1f%%)"
                "; resuming %s; %s writes as usual",
                used,
                limit,
                100 * used / limit,
                paused,
                filling,
            )


def budget_for(ctx: PipelineContext) -> ApiBudget:
    """The worker's one budget, made on first use from its Salesforce settings."""
    if ctx.api_budget is None:
        connectors = ctx.connectors
        ctx.api_budget = ApiBudget.from_settings(
            connectors.salesforce_settings, connectors.salesforce
        )
    return ctx.api_budget
