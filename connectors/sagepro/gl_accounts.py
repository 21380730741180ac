"""The one check that postings name GL accounts Sage Pro has, active, in its chart.

Every writer of journal entries asks this before its first call for a record, so a wrong
mapping dead-letters the record (``unknown_gl_account``) instead of half-posting it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from connectors.base.errors import RecordError
from connectors.sagepro.backend import SageProBackend
from connectors.sagepro.errors import SYSTEM


class UnknownGLAccount(RecordError):
    """A posting names accounts the chart does not hold (or holds inactive)."""

    def __init__(self, missing: set[str]) -> None:
        super().__init__(
            f"GL account(s) {', '.join(sorted(missing))} do not exist or are inactive",
            system=SYSTEM,
            code="UNKNOWN_GL_ACCOUNT",
        )
        self.missing = frozenset(missing)

    @property
    def reason(self) -> str:
        return "unknown_gl_account"


class ChartOfAccounts:
    """The active chart, read once and cached. An account missing from the cache is looked
    up again (at most every ``refresh_seconds``): an accountant may just have added it."""

    def __init__(
        self,
        backend: SageProBackend | Callable[[], SageProBackend],
        *,
        refresh_seconds: float = 60.0,
    ) -> None:
        # A callable is accepted so a worker can hand over its lazily built client.
        self._backend = backend
        self._refresh_seconds = refresh_seconds
        self._active: frozenset[str] | None = None
        self._loaded_at = 0.0

    def _sage(self) -> SageProBackend:
        backend = self._backend
        return backend if isinstance(backend, SageProBackend) else backend()

    async def _load(self) -> frozenset[str]:
        accounts = await self._sage().get_gl_accounts()
        self._active = frozenset(a.gl_account_id for a in accounts if a.active)
        self._loaded_at = time.monotonic()
        return self._active

    async def active(self) -> frozenset[str]:
        return self._active if self._active is not None else await self._load()

    async def require(self, accounts: set[str]) -> None:
        """Return when every account is active; else raise ``UnknownGLAccount``."""
        missing = set(accounts) - await self.active()
        if missing and time.monotonic() - self._loaded_at >= self._refresh_seconds:
            missing = set(accounts) - await self._load()
        if missing:
            raise UnknownGLAccount(missing)
