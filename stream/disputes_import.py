"""`paystream disputes import FILE.csv`: a processor's dispute report onto ``<prefix>.disputes``.

Columns (header row, any order, extra columns ignored): ``case_id, transaction_id, amount,
currency, reason_code, reason, stage, received_date, due_date``. Dates are ISO (2026-11-02);
``due_date`` and ``reason`` may be empty; ``stage`` is one of retrieval_request, chargeback,
representment, won, lost, reversed; ``amount`` is positive with at most two decimals.

A row is one stage of one case. Every row is checked on its own: a bad row is reported with its
line and reason and never stops the good ones. A case and stage already in the file is a
duplicate (reported, not sent again). What is sent is keyed like a push notification and
carries the same idempotency key (case id + stage), so importing a report twice, or a report
that overlaps the notifications, changes nothing downstream.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from schemas.dispute import Dispute
from stream.dispute_intake import IntakeRefused, dispute_from
from stream.pci import redact_text

COLUMNS = (
    "case_id",
    "transaction_id",
    "amount",
    "currency",
    "reason_code",
    "reason",
    "stage",
    "received_date",
    "due_date",
)
OPTIONAL = frozenset({"reason", "due_date"})
SOURCE = "import"
MAX_ROWS = 100_000


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str
    detail: str


@dataclass
class ImportReport:
    accepted: list[Dispute] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # line, case:stage
    rejected: list[Rejection] = field(default_factory=list)
    sent: int = 0

    def lines(self) -> list[str]:
        out = [
            f"rows accepted {len(self.accepted)}, sent {self.sent}, "
            f"duplicates {len(self.duplicates)}, rejected {len(self.rejected)}"
        ]
        out += [
            f"  line {line}: duplicate of {key} earlier in the file"
            for line, key in self.duplicates
        ]
        out += [f"  line {r.line}: {r.reason}: {r.detail}" for r in self.rejected]
        return out


class FileRefused(ValueError):
    """The file itself cannot be read as a report (no header, a required column missing)."""


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise IntakeRefused("bad_date", f"{name} {text[:20]!r} is not YYYY-MM-DD") from None


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise IntakeRefused("bad_amount", f"amount {text[:20]!r} is not a number") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise IntakeRefused("bad_amount", f"amount {text[:20]!r}: positive, two decimals")
    return value


def row_dispute(row: dict[str, str | None]) -> Dispute:
    """One CSV row as a dispute; raises ``IntakeRefused``."""
    values: dict[str, str] = {}
    for name in COLUMNS:
        value = row.get(name)
        if value is None:  # a short row: csv gives None for what is not there
            raise IntakeRefused("missing_column", name)
        value = value.strip()
        if not value and name not in OPTIONAL:
            raise IntakeRefused("missing_value", name)
        values[name] = value
    received = _day(values.pop("received_date"), "received_date")
    due = values.pop("due_date")
    fields: dict[str, object] = {
        **values,
        "amount": _amount(values["amount"]),
        "due_date": _day(due, "due_date") if due else None,
    }
    return dispute_from(
        fields,
        source=SOURCE,
        received=datetime(received.year, received.month, received.day, tzinfo=UTC),
    )


def read_report(path: Path) -> ImportReport:
    """Every row checked; nothing sent."""
    report = ImportReport()
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or ()]
        missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL]
        if missing:
            raise FileRefused(f"{path.name}: missing columns {', '.join(missing)}")
        reader.fieldnames = header
        for index, row in enumerate(reader):
            line = reader.line_num
            if index >= MAX_ROWS:
                report.rejected.append(Rejection(line, "too_many_rows", f"over {MAX_ROWS}"))
                break
            try:
                dispute = row_dispute({k: v for k, v in row.items() if k is not None})
            except IntakeRefused as exc:
                report.rejected.append(Rejection(line, exc.reason, exc.detail))
                continue
            except (ValueError, TypeError) as exc:  # anything else a row can do: its own fault
                report.rejected.append(Rejection(line, "invalid", redact_text(str(exc))[:200]))
                continue
            if dispute.idempotency_key in seen:
                report.duplicates.append((line, dispute.idempotency_key))
                continue
            seen.add(dispute.idempotency_key)
            report.accepted.append(dispute)
    return report


async def send_report(
    report: ImportReport, publisher: object, advance: Callable[[], None] | None = None
) -> None:
    """Each accepted row, acknowledged one by one (a broker outage stops here: re-import)."""
    publish = publisher.publish  # type: ignore[attr-defined]
    for dispute in report.accepted:
        await publish(dispute)
        report.sent += 1
        if advance is not None:
            advance()
