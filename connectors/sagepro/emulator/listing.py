"""GET list endpoints: exact-match filters, an optional date range, limit/offset paging.

A filter given more than once matches any of its values (``?InvoiceID=a&InvoiceID=b``), so a
sink can learn which of a batch's invoices exist in one call instead of one GET each.

Answers ``{"items": [...], "total": N, "offset": O, "limit": L}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiosqlite
from aiohttp import web

from connectors.base.emulator import json_response
from connectors.sagepro.emulator.parsing import parse_iso_date
from connectors.sagepro.emulator.problems import ApiError
from connectors.sagepro.emulator.store import SageStore

MAX_LIMIT = 500
MAX_VALUES = 100  # a filter repeated matches any of its values, up to this many
RowOut = Callable[[aiosqlite.Row], Any]


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            f"{name} out of range",
            [{"field": name, "issue": f"must be an integer from {low} to {high}"}],
        )
    return value


def _bool_param(name: str, raw: str) -> int:
    if raw.lower() in ("true", "1"):
        return 1
    if raw.lower() in ("false", "0"):
        return 0
    raise ApiError(
        422, "VALIDATION_ERROR", f"bad {name}", [{"field": name, "issue": "must be true or false"}]
    )


async def list_response(
    request: web.Request,
    store: SageStore,
    base_sql: str,
    filters: Mapping[str, str],
    out: RowOut | Callable[[aiosqlite.Row], Awaitable[Any]],
    *,
    order_by: str,
    date_column: str | None = None,
    bool_filters: Mapping[str, str] | None = None,
) -> web.Response:
    """``filters``/``bool_filters``: query parameter -> column; FromDate/ToDate: date_column."""
    where: list[str] = []
    args: list[Any] = []
    for param, column in filters.items():
        values = request.query.getall(param, [])
        if len(values) > MAX_VALUES:
            raise ApiError(
                422,
                "VALIDATION_ERROR",
                f"too many {param} values",
                [{"field": param, "issue": f"at most {MAX_VALUES} values"}],
            )
        if len(values) == 1:
            where.append(f"{column} = ?")
        elif values:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
        args.extend(values)
    for param, column in (bool_filters or {}).items():
        if param in request.query:
            where.append(f"{column} = ?")
            args.append(_bool_param(param, request.query[param]))
    if date_column:
        for param, op in (("FromDate", ">="), ("ToDate", "<=")):
            if param in request.query:
                day = parse_iso_date(request.query[param])
                if day is None:
                    raise ApiError(
                        422,
                        "VALIDATION_ERROR",
                        f"bad {param}",
                        [{"field": param, "issue": "must be an ISO date YYYY-MM-DD"}],
                    )
                where.append(f"{date_column} {op} ?")
                args.append(day.isoformat())
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    count_row = await store.fetchone(f"SELECT COUNT(*) AS n FROM ({base_sql}{clause})", *args)  # noqa: S608
    rows = await store.fetchall(
        f"{base_sql}{clause} ORDER BY {order_by} LIMIT ? OFFSET ?",
        *args,
        limit,
        offset,
    )
    items = []
    for row in rows:
        item = out(row)
        items.append(await item if isinstance(item, Awaitable) else item)
    total = int(count_row["n"]) if count_row else 0
    return json_response({"items": items, "total": total, "offset": offset, "limit": limit})
