"""The demo's disputes: a few of the payments it made are disputed through the real paths, and
what Salesforce and Sage Pro then hold is read back from their own APIs.

Once everything else has converged and settled, four settled sales paid against an invoice are
disputed: two through `paystream ingress` (its own process, each request signed as a processor
signs it, and each sent twice as a sender retrying would), two through `paystream disputes
import` with a CSV report. One case is won, one lost, one stays open at chargeback (due in two
days), one is lost from the report. The expectations below are the business rules written out
again, independently of the flows: one Case per case id at its last stage, the payment's status,
one credit memo per chargeback, the journal entries of each stage, and the ledger across sale,
chargeback and outcome balanced with the amounts where the rules put them.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from connectors.paytrace.models import ExportedTransaction
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.models import CreditMemo, JournalEntry
from connectors.sagepro.models import Payment as SagePayment
from schemas.payment import PaymentStatus
from stream.ingress_process import IngressProcess, signed_request
from stream.mapping import Mapping

SENDER = "paytrace"
CASES = 4
# case number -> (path, stages in order); the last stage is where the case ends
SCRIPT: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("push", ("retrieval_request", "chargeback", "representment", "won")),
    2: ("push", ("chargeback", "lost")),
    3: ("import", ("chargeback",)),
    4: ("import", ("chargeback", "lost")),
}
REPORT_COLUMNS = (
    "case_id,transaction_id,amount,currency,reason_code,reason,stage,received_date,due_date"
)


@dataclass(frozen=True)
class DemoCase:
    case_id: str
    transaction_id: str
    invoice_id: str
    amount: Decimal  # disputed (the sale's amount, or half of it for one case)
    path: str  # push | import
    stages: tuple[str, ...]
    due: date

    @property
    def outcome(self) -> str:
        return self.stages[-1]


def disputable(
    transactions: list[ExportedTransaction], payments: dict[str, SagePayment]
) -> list[ExportedTransaction]:
    """Settled sales, neither voided nor refunded, paid in full against a Sage Pro invoice."""
    refunded = {str(t.original_transaction_id) for t in transactions if t.original_transaction_id}
    found = []
    for tx in transactions:
        sale = payments.get(str(tx.transaction_id))
        status = (tx.status or "").upper()
        if (
            str(tx.transaction_type) == "SALE"
            and tx.settled is not None
            and status not in ("DECLINED", "VOIDED", "AUTO_VOIDED")
            and str(tx.transaction_id) not in refunded
            and sale is not None
            and sale.invoice_id
            and sale.applied_amount == tx.amount
        ):
            found.append(tx)
    return sorted(found, key=lambda t: t.transaction_id)


def plan_cases(sales: list[ExportedTransaction], today: date) -> list[DemoCase]:
    cases = []
    for number, tx in zip(sorted(SCRIPT), sales, strict=False):
        path, stages = SCRIPT[number]
        amount = tx.amount if number != 4 else (tx.amount / 2).quantize(Decimal("0.01"))
        cases.append(
            DemoCase(
                case_id=f"DEMO-CB-{number}",
                transaction_id=str(tx.transaction_id),
                invoice_id=tx.invoice_id,
                amount=amount,
                path=path,
                stages=stages,
                due=today + timedelta(days=2 if number == 3 else 10),
            )
        )
    return cases


def notification(case: DemoCase, stage: str) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "transaction_id": case.transaction_id,
        "amount": f"{case.amount:.2f}",
        "currency": "USD",
        "reason_code": "10.4",
        "reason": "Other Fraud - Card Absent Environment",
        "stage": stage,
        "due_date": case.due.isoformat(),
    }


def report_csv(cases: list[DemoCase], today: date) -> str:
    rows = [REPORT_COLUMNS]
    for case in cases:
        for stage in case.stages:
            n = notification(case, stage)
            rows.append(
                f"{n['case_id']},{n['transaction_id']},{n['amount']},USD,13.1,"
                f"Merchandise not received,{stage},{today.isoformat()},{n['due_date']}"
            )
    return "\n".join(rows) + "\n"


@dataclass
class DisputeResult:
    cases: int
    sent: int  # notifications acknowledged (pushed 202s and report rows sent)
    salesforce_cases: int  # exactly one Case at the expected stage, the payment's status right
    credit_memos: int  # exactly one per chargeback, against the sale's invoice, right amount
    journal_entries: int  # dispute entries found as expected (exactly once each)
    ledger_balanced: bool  # every entry balanced, and the amounts where the rules put them
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.cases > 0 and not self.problems and self.ledger_balanced

    def summary(self) -> dict[str, Any]:
        return {
            "dispute_cases": self.cases,
            "disputes_sent": self.sent,
            "dispute_salesforce_cases": self.salesforce_cases,
            "dispute_sagepro_credit_memos": self.credit_memos,
            "dispute_journal_entries": self.journal_entries,
            "dispute_ledger_balanced": self.ledger_balanced,
            "dispute_problems": self.problems[:5],
        }


def _entry_net(entry: JournalEntry) -> dict[str, Decimal]:
    net: dict[str, Decimal] = defaultdict(Decimal)
    for line in entry.lines:
        net[line.gl_account_id] += line.debit - line.credit
    return net


def expected_entries(case: DemoCase, prefix: str) -> dict[str, str]:
    """Reference -> what it records, per the rules: chargeback, then the money back or lost."""
    refs = {f"{prefix}{case.case_id}-CB": "chargeback"}
    if case.outcome in ("won", "reversed"):
        refs[f"{prefix}{case.case_id}-RETURNED"] = "returned"
    elif case.outcome == "lost":
        refs[f"{prefix}{case.case_id}-LOST"] = "lost"
    return refs


def _ledger_problems(
    case: DemoCase, refs: dict[str, str], entry_of: dict[str, JournalEntry], mapping: Mapping
) -> list[str]:
    """Across sale, chargeback and outcome: each entry there and balanced, and the dispute's
    entries leave the amount in receivable (open), nowhere (won) or in losses (lost)."""
    accounts = mapping.sagepro.disputes
    problems = []
    for ref in (case.transaction_id, *refs):
        entry = entry_of.get(ref)
        if entry is None or sum(_entry_net(entry).values()) != 0:
            problems.append(f"{case.case_id}: entry {ref} missing or unbalanced")
    net: dict[str, Decimal] = defaultdict(Decimal)
    for ref in refs:
        for account, value in _entry_net(entry_of[ref]).items() if ref in entry_of else ():
            net[account] += value
    amount = case.amount
    want = {
        "chargeback": {accounts.receivable: amount, accounts.clearing: -amount},
        "won": {},
        "reversed": {},
        "lost": {accounts.losses: amount, accounts.clearing: -amount},
    }[case.outcome]
    if {k: v for k, v in net.items() if v} != want:
        problems.append(f"{case.case_id}: ledger moved {dict(net)}")
    return problems


def dispute_result(
    cases: list[DemoCase],
    sent: int,
    mapping: Mapping,
    case_records: list[dict[str, Any]],
    payment_records: list[dict[str, Any]],
    memos: list[CreditMemo],
    entries: list[JournalEntry],
) -> DisputeResult:
    accounts = mapping.sagepro.disputes
    status_label = mapping.salesforce.status
    problems: list[str] = []
    by_case = Counter(str(r.get("Dispute_Case_Id__c")) for r in case_records)
    stage_of = {str(r.get("Dispute_Case_Id__c")): r.get("Dispute_Stage__c") for r in case_records}
    payment_status = {str(r.get("PaymentID__c")): r.get("Status__c") for r in payment_records}
    memo_count = Counter(m.reference for m in memos)
    memo_of = {m.reference: m for m in memos}
    entry_count = Counter(e.reference for e in entries)
    entry_of = {e.reference: e for e in entries}
    sf_ok = memos_ok = entries_ok = 0
    balanced = True
    for case in cases:
        lost_money = case.outcome in ("lost", "chargeback")
        want_status = status_label[
            PaymentStatus.CHARGEBACK if lost_money else PaymentStatus.SETTLED
        ]
        if by_case[case.case_id] != 1 or stage_of.get(case.case_id) != case.outcome:
            problems.append(
                f"{case.case_id}: Case {by_case[case.case_id]}x at {stage_of.get(case.case_id)}"
            )
        elif payment_status.get(case.transaction_id) != want_status:
            problems.append(f"{case.case_id}: payment {payment_status.get(case.transaction_id)}")
        else:
            sf_ok += 1
        chargeback_ref = f"{accounts.reference_prefix}{case.case_id}-CB"
        memo = memo_of.get(chargeback_ref)
        if memo_count[chargeback_ref] != 1 or memo is None:
            problems.append(f"{case.case_id}: {memo_count[chargeback_ref]} credit memos")
        elif memo.invoice_id != case.invoice_id or memo.amount != case.amount:
            problems.append(f"{case.case_id}: credit memo {memo.invoice_id} {memo.amount}")
        else:
            memos_ok += 1
        refs = expected_entries(case, accounts.reference_prefix)
        for ref in refs:
            if entry_count[ref] != 1:
                problems.append(f"{case.case_id}: {entry_count[ref]} entries {ref}")
            else:
                entries_ok += 1
        ledger = _ledger_problems(case, refs, entry_of, mapping)
        balanced = balanced and not ledger
        problems += ledger
    expected_sent = sum(len(c.stages) * (2 if c.path == "push" else 1) for c in cases)
    if sent != expected_sent:
        problems.append(f"sent {sent} of {expected_sent}")
    return DisputeResult(
        cases=len(cases),
        sent=sent,
        salesforce_cases=sf_ok,
        credit_memos=memos_ok,
        journal_entries=entries_ok,
        ledger_balanced=balanced,
        problems=problems,
    )


class DemoDisputes:
    """Owns the demo's `paystream ingress` process and sends, then checks, the disputes."""

    def __init__(self, workdir: Path, mapping: Mapping) -> None:
        self.workdir = workdir
        self.mapping = mapping
        self.secret = secrets.token_urlsafe(24)  # this run's shared secret with the "processor"
        self.env: dict[str, str] = {}
        self.ingress: IngressProcess | None = None

    def start(self, worker_env: dict[str, str]) -> None:
        """Started beside the workers, so it is up by the time the disputes go."""
        self.env = worker_env
        secrets_env = {"PAYSTREAM_INGRESS_SECRETS": json.dumps({SENDER: [self.secret]})}
        self.ingress = IngressProcess({**worker_env, **secrets_env}, self.workdir / "ingress.log")
        self.ingress.start()

    def stop(self) -> None:
        if self.ingress is not None:
            self.ingress.stop()

    async def run(
        self,
        transactions: list[ExportedTransaction],
        sage: SageProRestClient,
        salesforce_control: httpx.AsyncClient,
        within_seconds: float = 90.0,
    ) -> DisputeResult:
        today = date.today()
        payments = {p.payment_reference: p for p in await sage.list_payments()}
        cases = plan_cases(disputable(transactions, payments), today)
        sent = await self.push([c for c in cases if c.path == "push"])
        sent += await self.import_report([c for c in cases if c.path == "import"], today)
        deadline = time.monotonic() + within_seconds
        while True:
            result = dispute_result(
                cases,
                sent,
                self.mapping,
                await _records(salesforce_control, "Case"),
                await _records(salesforce_control, self.mapping.salesforce.object),
                await sage.list_credit_memos(),
                await sage.list_journal_entries(),
            )
            if result.ok or time.monotonic() > deadline:
                return result
            await asyncio.sleep(1.0)

    async def push(self, cases: list[DemoCase]) -> int:
        """Every stage in order, then all of them again a moment later, as a sender retrying
        would (older stages after newer ones too): the accepted 202s."""
        if not cases:
            return 0
        assert self.ingress is not None
        await self.ingress.ready()
        accepted = 0
        async with httpx.AsyncClient(base_url=self.ingress.url, timeout=30) as http:
            for delivery in range(2):
                if delivery:
                    await asyncio.sleep(1.1)  # a later timestamp: a new signature, no replay
                for case in cases:
                    for stage in case.stages:
                        body = notification(case, stage)
                        raw, headers = signed_request(body, SENDER, self.secret)
                        response = await http.post("/v1/disputes", content=raw, headers=headers)
                        accepted += response.status_code == 202
        return accepted

    async def import_report(self, cases: list[DemoCase], today: date) -> int:
        """`paystream disputes import` as an operator runs it; the rows it says it sent."""
        if not cases:
            return 0
        report = self.workdir / "disputes-report.csv"
        report.write_text(report_csv(cases, today))
        run = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stream.cli",
            "disputes",
            "import",
            str(report),
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(run.communicate(), 120)
        for line in out.decode().splitlines():  # "rows accepted N, sent N, duplicates ..."
            if line.startswith("rows accepted"):
                return int(line.split("sent ")[1].split(",")[0])
        return 0


async def _records(http: httpx.AsyncClient, sobject: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = (await http.get(f"/_emulator/records/{sobject}")).json()[
        "records"
    ]
    return records
