"""Declarative field mapping: PayTrace -> canonical -> Salesforce / Sage Pro, from a YAML file.

The file is validated by these pydantic models (``paystream mapping check FILE``); code never
hard-codes a status, a GL account or a custom field. ``stream/default_mapping.yaml`` ships the
defaults the demo runs on.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.sagepro.models import PaymentStatus as SagePaymentStatus
from schemas.payment import PaymentStatus, PaymentType

DEFAULT_MAPPING = Path(__file__).with_name("default_mapping.yaml")

# What a target field may be filled from: canonical attributes, or ``custom.<name>``.
CANONICAL_PATHS = frozenset(
    {
        "transaction_id",
        "type",
        "status",
        "amount",
        "currency",
        "occurred_at",
        "occurred_on",
        "settled_at",
        "card_type",
        "last_four",
        "customer_vault_id",
        "original_transaction_id",
        "response_code",
        "approval_code",
        "description",
        "references.opportunity_id",
        "references.order_id",
        "references.account_id",
        "references.erp_invoice_id",
        "references.erp_customer_id",
        "references.subscription_id",
        "avs_response",
        "csc_response",
        "approval_message",
        "local_hour",
    }
)
CorrelationTarget = Literal[
    "opportunity_id",
    "order_id",
    "account_id",
    "erp_invoice_id",
    "erp_customer_id",
    "subscription_id",
]
SourceField = Literal["invoice_id", "customer_reference_id", "customer_id", "description"]


def _compile(pattern: str) -> re.Pattern[str]:
    # re.error is not a ValueError: without this a bad pattern escapes validation as a crash.
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatusRule(_Strict):
    """Matches a PayTrace export record; first matching rule wins."""

    transaction_type: str = Field(description="SALE, AUTHORIZATION, ... or * for any")
    status: str = Field(default="*", description="regular expression on the export status")
    settled: bool | None = None
    canonical: PaymentStatus

    @field_validator("status")
    @classmethod
    def _regex(cls, value: str) -> str:
        if value != "*":
            _compile(value)
        return value

    def matches(self, transaction_type: str, status: str, settled: bool) -> bool:
        if self.transaction_type not in ("*", transaction_type.upper()):
            return False
        if self.settled is not None and self.settled != settled:
            return False
        return self.status == "*" or re.fullmatch(self.status, status, re.IGNORECASE) is not None


class CorrelationRule(_Strict):
    """Reads an id of another system out of a PayTrace field."""

    field: SourceField
    pattern: str = ".+"
    target: CorrelationTarget

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        _compile(value)
        return value

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


class CustomFieldRule(_Strict):
    """A named custom value carried in a PayTrace text field (group ``value`` of ``pattern``)."""

    field: SourceField = "description"
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _has_value_group(cls, value: str) -> str:
        if "value" not in _compile(value).groupindex:
            raise ValueError("pattern needs a named group (?P<value>...)")
        return value


def _check_paths(fields: dict[str, str], custom: set[str]) -> dict[str, str]:
    for target, path in fields.items():
        if path.startswith("custom."):
            if path.removeprefix("custom.") not in custom:
                raise ValueError(f"{target}: unknown custom field {path!r}")
        elif path not in CANONICAL_PATHS:
            raise ValueError(f"{target}: unknown source {path!r}")
    return fields


SettlementOutcome = Literal["reconciled", "mismatch", "totals_differ"]
# What a Settlement__c field may be filled from (stream/settlement_outputs.py).
SettlementSource = Literal[
    "settled_on",
    "transaction_count",
    "net_amount",
    "transactions_total",
    "matched",
    "mismatched",
    "missing_in_salesforce",
    "missing_in_sagepro",
    "amount_differs",
    "status",
    "reason",
    "journal_reference",
    "reconciled_at",
]


DEFAULT_SETTLEMENT_STATUS: dict[SettlementOutcome, str] = {
    "reconciled": "Reconciled",
    "mismatch": "Mismatch",
    "totals_differ": "Totals Differ",
}
DEFAULT_SETTLEMENT_FIELDS: dict[str, SettlementSource] = {
    "SettledDate__c": "settled_on",
    "TransactionCount__c": "transaction_count",
    "NetAmount__c": "net_amount",
    "TransactionsTotal__c": "transactions_total",
    "MatchedCount__c": "matched",
    "MismatchedCount__c": "mismatched",
    "MissingInSalesforce__c": "missing_in_salesforce",
    "MissingInSagePro__c": "missing_in_sagepro",
    "AmountDiffers__c": "amount_differs",
    "Status__c": "status",
    "StatusReason__c": "reason",
    "JournalEntryReference__c": "journal_reference",
    "ReconciledAt__c": "reconciled_at",
}


class SettlementRecordMapping(_Strict):
    """Where the outcome of reconciling a PayTrace settlement batch lands in Salesforce."""

    object: str = "Settlement__c"
    external_id_field: str = "BatchNumber__c"
    status: dict[SettlementOutcome, str] = Field(
        default_factory=lambda: dict(DEFAULT_SETTLEMENT_STATUS)
    )
    fields: dict[str, SettlementSource] = Field(
        default_factory=lambda: dict(DEFAULT_SETTLEMENT_FIELDS)
    )

    @field_validator("status")
    @classmethod
    def _every_outcome(cls, value: dict[str, str]) -> dict[str, str]:
        missing = {"reconciled", "mismatch", "totals_differ"} - set(value)
        if missing:
            raise ValueError(f"status lacks {', '.join(sorted(missing))}")
        return value


class SalesforceMapping(_Strict):
    object: str = "Payment__c"
    external_id_field: str = "PaymentID__c"
    status: dict[PaymentStatus, str]
    card_types: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str]
    datetime_format: Literal["iso8601"] = "iso8601"
    settlement: SettlementRecordMapping = Field(default_factory=SettlementRecordMapping)

    @property
    def amount_field(self) -> str | None:
        """The Payment__c field that holds the amount (reconciliation compares it)."""
        return next((name for name, path in self.fields.items() if path == "amount"), None)


class GLRule(_Strict):
    debit: str
    credit: str


class SettlementAccounts(_Strict):
    """A settled batch moves its net amount from the clearing account to the bank."""

    bank: str = Field(default="1000", description="where the processor deposits the batch")
    clearing: str = Field(
        default="1010", description="undeposited funds: where card payments are posted"
    )
    reference_prefix: str = "PAYTRACE-BATCH-"  # + batch number: the journal entry's Reference


class DisputeAccounts(_Strict):
    """A chargeback moves the disputed amount out of clearing into a receivable from the card
    network; won (or reversed) moves it back, lost writes it off (agents/dispute_sagepro.py)."""

    receivable: str = Field(default="1210", description="chargebacks receivable")
    clearing: str = Field(default="1010", description="where the processor takes the money")
    losses: str = Field(default="4900", description="where a lost chargeback is written off")
    reference_prefix: str = "DSP-"  # + case id + stage: credit memo and journal References


class SageProMapping(_Strict):
    payment_status: dict[PaymentStatus, str]
    payment_method_code: str = "CC"
    unmatched_customer_id: str = Field(
        default="PAYTRACE-UNMATCHED",
        description="customer for payments no invoice or vault id places",
    )
    gl_accounts: dict[str, GLRule] = Field(description="by payment type, plus on_account")
    settlement: SettlementAccounts = Field(default_factory=SettlementAccounts)
    disputes: DisputeAccounts = Field(default_factory=DisputeAccounts)

    @field_validator("gl_accounts")
    @classmethod
    def _required_accounts(cls, value: dict[str, GLRule]) -> dict[str, GLRule]:
        allowed = {t.value for t in PaymentType} | {"on_account"}
        unknown = set(value) - allowed
        if unknown:
            raise ValueError(f"unknown gl_accounts keys: {', '.join(sorted(unknown))}")
        missing = {"sale", "refund", "on_account"} - set(value)
        if missing:
            raise ValueError(f"gl_accounts needs {', '.join(sorted(missing))}")
        return value

    @model_validator(mode="after")
    def _settlement_clears_what_payments_post(self) -> SageProMapping:
        # Card payments are posted to the clearing account (sale debit, refund credit); the
        # settlement entry must empty that same account, or it would never net to zero.
        used = {self.gl_accounts["sale"].debit, self.gl_accounts["refund"].credit}
        if self.settlement.clearing not in used:
            raise ValueError(
                f"settlement.clearing {self.settlement.clearing!r} must be the account card "
                f"payments are posted to ({', '.join(sorted(used))})"
            )
        if self.settlement.bank == self.settlement.clearing:
            raise ValueError("settlement.bank and settlement.clearing must differ")
        return self


DEFAULT_OUTCOME_LABELS = {
    "charged": "Paid",
    "declined": "Declined",
    "payment_method_required": "Payment method required",
    "failed": "Payment failed",
}


class ChargeTrigger(_Strict):
    """A Salesforce change that asks for a charge: a field reaching a value, or a CREATE."""

    object: Literal["Opportunity", "Order"]
    name: str = Field(pattern=r"^[a-z_]+$", description="part of the idempotency key")
    change_types: list[Literal["CREATE", "UPDATE", "UNDELETE"]] = Field(min_length=1)
    field: str | None = None
    value: str | None = None


class CollectionMapping(_Strict):
    """Salesforce-triggered collection: which changes charge, and where outcomes are written."""

    triggers: list[ChargeTrigger] = Field(default_factory=list)
    amount_fields: dict[str, str] = Field(default_factory=lambda: {"Opportunity": "Amount"})
    account_field: str = "AccountId"
    vault_id_field: str = "CustomerVaultID__c"  # on Account
    status_field: str | None = "PaymentStatus__c"  # on the triggering record
    transaction_field: str | None = "PaymentTransactionID__c"
    own_client: str = "paystream"  # changeOrigin client of our own writes: never a trigger
    statuses: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_OUTCOME_LABELS),
        description="what the status field says for each outcome",
    )

    @field_validator("statuses")
    @classmethod
    def _all_outcomes(cls, value: dict[str, str]) -> dict[str, str]:
        if set(value) != set(DEFAULT_OUTCOME_LABELS):
            raise ValueError(f"statuses needs exactly {', '.join(sorted(DEFAULT_OUTCOME_LABELS))}")
        return value


class RiskMapping(_Strict):
    """Streaming risk scoring (agents/risk_scorer.py, agents/risk_actions.py): where scores
    land in Salesforce and when a payment gets a review Case."""

    review_threshold: float = Field(default=0.7, gt=0, le=1, description="Case at or above")
    score_field: str = "Risk_Score__c"  # on the payment object
    reasons_field: str = "Risk_Reasons__c"
    # On Case: RISK-<transaction id>; Cases are upserted by it, so External ID + Unique.
    case_id_field: str = "Risk_Case_Key__c"
    case_priority: str = "High"
    small_amount: float = Field(default=5.0, gt=0, description="card-testing size, in currency")
    high_amount: float = Field(default=1000.0, gt=0, description="large for a first-seen customer")


SubscriptionStatus = Literal["active", "past_due", "suspended", "cancelled"]
DEFAULT_SUBSCRIPTION_STATUSES: dict[SubscriptionStatus, str] = {
    "active": "Active",
    "past_due": "Past Due",
    "suspended": "Suspended",
    "cancelled": "Cancelled",
}
DEFAULT_FREQUENCIES = {
    "weekly": "Weekly",
    "monthly": "Monthly",
    "quarterly": "Quarterly",
    "annual": "Annual",
    "every_n_days": "Every N Days",
}
# Decline texts no retry can fix (the issuer says the card or account is gone), matched
# case-insensitively as regular expressions against PayTrace's approval message.
DEFAULT_HARD_DECLINES = (
    "pick ?up",
    "lost",
    "stolen",
    "closed",
    "no such account",
    "invalid account",
    "do not try again",
    "revocation",
)


class SubscriptionFields(_Strict):
    """The field names of the subscription object (every one configurable)."""

    account: str = "Account__c"
    vault_id: str = "CustomerVaultID__c"
    amount: str = "Amount__c"
    currency: str = "Currency__c"
    frequency: str = "Frequency__c"
    interval_days: str = "IntervalDays__c"
    anchor_day: str = "AnchorDay__c"
    start_date: str = "StartDate__c"
    end_date: str = "EndDate__c"
    total_count: str = "TotalCount__c"
    next_charge_date: str = "NextChargeDate__c"
    status: str = "Status__c"
    retry_now: str = "RetryNow__c"
    # Written by paystream: billing progress and the dunning state, visible in Salesforce.
    periods_charged: str = "PeriodsCharged__c"
    dunning_period: str = "DunningPeriod__c"  # the unpaid period's date
    dunning_attempt: str = "DunningAttempt__c"  # failed attempts on it so far
    next_retry_date: str = "NextRetryDate__c"
    declined_card: str = "DeclinedCard__c"  # masked number and expiry the decline was on


class SubscriptionMapping(_Strict):
    """Recurring billing from a Salesforce subscription object (stream/billing/)."""

    object: str = "Subscription__c"
    fields: SubscriptionFields = Field(default_factory=SubscriptionFields)
    statuses: dict[SubscriptionStatus, str] = Field(
        default_factory=lambda: dict(DEFAULT_SUBSCRIPTION_STATUSES)
    )
    frequencies: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_FREQUENCIES),
        description="schedule frequency -> the picklist value Salesforce holds",
    )
    dunning_days: list[int] = Field(
        default_factory=lambda: [1, 3, 7],
        max_length=20,
        description="retries this many days after the period's due date",
    )
    hard_declines: list[str] = Field(default_factory=lambda: list(DEFAULT_HARD_DECLINES))
    time_zone: str = "America/Chicago"  # the merchant's: decides which day is today
    task_priority: str = "High"
    case_priority: str = "High"

    @field_validator("statuses")
    @classmethod
    def _every_status(cls, value: dict[str, str]) -> dict[str, str]:
        missing = set(DEFAULT_SUBSCRIPTION_STATUSES) - set(value)
        if missing:
            raise ValueError(f"statuses lacks {', '.join(sorted(missing))}")
        return value

    @field_validator("frequencies")
    @classmethod
    def _known_frequencies(cls, value: dict[str, str]) -> dict[str, str]:
        if set(value) != set(DEFAULT_FREQUENCIES):
            raise ValueError(f"frequencies needs exactly {', '.join(sorted(DEFAULT_FREQUENCIES))}")
        return value

    @field_validator("dunning_days")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(d <= 0 for d in value) or sorted(set(value)) != value:
            raise ValueError("dunning_days must be positive and strictly increasing")
        return value

    @field_validator("hard_declines")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            _compile(pattern)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def is_hard_decline(self, message: str) -> bool:
        return any(re.search(p, message, re.IGNORECASE) for p in self.hard_declines)

    def frequency_of(self, picklist: str) -> str | None:
        """The schedule frequency a picklist value names (case-insensitive), or None."""
        wanted = picklist.strip().lower()
        return next((k for k, v in self.frequencies.items() if v.lower() == wanted), None)


class Mapping(_Strict):
    version: Literal[1] = 1
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    types: dict[str, PaymentType] = Field(min_length=1, description="PayTrace type -> canonical")
    statuses: list[StatusRule] = Field(min_length=1)
    correlation: list[CorrelationRule] = Field(default_factory=list)
    custom_fields: dict[str, CustomFieldRule] = Field(default_factory=dict)
    to_paytrace: dict[SourceField, str] = Field(
        default_factory=dict,
        description="templates for outbound charges, e.g. description: 'rep={SalesRepID}'",
    )
    salesforce: SalesforceMapping
    sagepro: SageProMapping
    collection: CollectionMapping = Field(default_factory=CollectionMapping)
    risk: RiskMapping = Field(default_factory=RiskMapping)
    subscriptions: SubscriptionMapping = Field(default_factory=SubscriptionMapping)

    @model_validator(mode="after")
    def _cross_check(self) -> Mapping:
        _check_paths(self.salesforce.fields, set(self.custom_fields))
        missing = [s for s in PaymentStatus if s not in self.salesforce.status]
        if missing:
            raise ValueError(f"salesforce.status lacks {', '.join(missing)}")
        missing = [s for s in PaymentStatus if s not in self.sagepro.payment_status]
        if missing:
            raise ValueError(f"sagepro.payment_status lacks {', '.join(missing)}")
        known = {s.value for s in SagePaymentStatus} | {""}
        bad = [v for v in self.sagepro.payment_status.values() if v not in known]
        if bad:
            raise ValueError(f"sagepro.payment_status: unknown Sage Pro status {bad[0]!r}")
        for name, template in self.to_paytrace.items():
            for ref in re.findall(r"{(\w+)}", template):
                if ref not in self.custom_fields:
                    raise ValueError(f"to_paytrace.{name}: unknown custom field {ref!r}")
        return self

    def status_for(self, transaction_type: str, status: str, settled: bool) -> PaymentStatus | None:
        for rule in self.statuses:
            if rule.matches(transaction_type, status, settled):
                return rule.canonical
        return None

    def type_for(self, transaction_type: str) -> PaymentType | None:
        return self.types.get(transaction_type.upper())


def load_mapping(path: Path | None = None) -> Mapping:
    source = path or DEFAULT_MAPPING
    data = yaml.safe_load(source.read_text())
    return Mapping.model_validate(data)
