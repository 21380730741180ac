"""The emulated org's objects and fields (what describe() would say about them).

Only what validation, SOQL and change events need: type, length, required, picklist values,
lookup targets, external-id flags and whether the API may write the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from connectors.salesforce.ids import KEY_PREFIXES


class FieldType(StrEnum):
    ID = "id"
    STRING = "string"
    TEXTAREA = "textarea"
    PICKLIST = "picklist"
    CURRENCY = "currency"
    DOUBLE = "double"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    REFERENCE = "reference"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    AUTONUMBER = "autonumber"


NUMERIC = frozenset({FieldType.CURRENCY, FieldType.DOUBLE})
TEXT = frozenset(
    {FieldType.STRING, FieldType.TEXTAREA, FieldType.EMAIL, FieldType.PHONE, FieldType.URL}
)


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: FieldType = FieldType.STRING
    label: str = ""
    length: int = 255
    required: bool = False  # on create; on update only when explicitly nulled
    writable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    targets: tuple[str, ...] = ()  # lookup target objects
    default: object = None

    @property
    def display(self) -> str:
        return self.label or self.name.removesuffix("__c").replace("_", " ")


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    autonumber_format: str | None = None  # e.g. "PAY-{0:06d}" for an auto-number Name
    _by_lower: dict[str, str] = field(default_factory=dict, repr=False)

    def add(self, *defs: FieldDef) -> None:
        for item in defs:
            self.fields[item.name] = item
            self._by_lower[item.name.lower()] = item.name

    def resolve(self, name: str) -> FieldDef | None:
        """Field names are case-insensitive in the API; this returns the canonical one."""
        canonical = self._by_lower.get(name.lower())
        return self.fields[canonical] if canonical else None

    @property
    def external_ids(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.external_id]


def _system_fields(owner: bool = True) -> list[FieldDef]:
    ro = FieldType.REFERENCE
    defs = [
        FieldDef("Id", FieldType.ID, "Record ID", 18, writable=False),
        FieldDef("IsDeleted", FieldType.BOOLEAN, "Deleted", writable=False),
        FieldDef("CreatedDate", FieldType.DATETIME, "Created Date", writable=False),
        FieldDef("CreatedById", ro, "Created By ID", 18, targets=("User",), writable=False),
        FieldDef("LastModifiedDate", FieldType.DATETIME, "Last Modified Date", writable=False),
        FieldDef(
            "LastModifiedById", ro, "Last Modified By ID", 18, targets=("User",), writable=False
        ),
        FieldDef("SystemModstamp", FieldType.DATETIME, "System Modstamp", writable=False),
    ]
    if owner:
        defs.append(FieldDef("OwnerId", ro, "Owner ID", 18, targets=("User",)))
    return defs


def _s(name: str, length: int = 255, **kw: object) -> FieldDef:
    return FieldDef(name, FieldType.STRING, length=length, **kw)  # type: ignore[arg-type]


def _ref(name: str, *targets: str, **kw: object) -> FieldDef:
    return FieldDef(name, FieldType.REFERENCE, length=18, targets=targets, **kw)  # type: ignore[arg-type]


def _pick(name: str, *values: str, **kw: object) -> FieldDef:
    return FieldDef(name, FieldType.PICKLIST, picklist=values, **kw)  # type: ignore[arg-type]


PAYMENT_STATUSES = (
    "Completed",
    "Pending",
    "Authorized",
    "Failed",
    "Refunded",
    "Partially Refunded",
    "Voided",
    "Settled",
    "Chargeback",
)


def _standard_objects() -> list[ObjectDef]:
    account = ObjectDef("Account", KEY_PREFIXES["Account"])
    account.add(
        *_system_fields(),
        _s("Name", required=True),
        _s("AccountNumber", 40),
        _pick("Type", "Prospect", "Customer - Direct", "Customer - Channel", "Other"),
        _pick("Industry", "Banking", "Retail", "Technology", "Manufacturing", "Other"),
        FieldDef("Phone", FieldType.PHONE, length=40),
        FieldDef("Website", FieldType.URL),
        _s("BillingStreet"),
        _s("BillingCity", 40),
        _s("BillingState", 80),
        _s("BillingPostalCode", 20),
        _s("BillingCountry", 80),
        FieldDef("Description", FieldType.TEXTAREA, length=32000),
        # Not unique on purpose: one vault profile may back several accounts (upsert -> 300).
        _s("CustomerVaultID__c", 50, external_id=True, label="Customer Vault ID"),
    )
    contact = ObjectDef("Contact", KEY_PREFIXES["Contact"])
    contact.add(
        *_system_fields(),
        _ref("AccountId", "Account"),
        _s("FirstName", 40),
        _s("LastName", 80, required=True),
        FieldDef("Email", FieldType.EMAIL, length=80),
        FieldDef("Phone", FieldType.PHONE, length=40),
        _s("Title", 128),
    )
    opportunity = ObjectDef("Opportunity", KEY_PREFIXES["Opportunity"])
    opportunity.add(
        *_system_fields(),
        _ref("AccountId", "Account"),
        _s("Name", 120, required=True),
        _pick(
            "StageName",
            "Prospecting",
            "Qualification",
            "Needs Analysis",
            "Proposal/Price Quote",
            "Negotiation/Review",
            "Closed Won",
            "Closed Lost",
            required=True,
        ),
        FieldDef("CloseDate", FieldType.DATE, required=True),
        FieldDef("Amount", FieldType.CURRENCY),
        FieldDef("Probability", FieldType.DOUBLE),
        _pick("Type", "New Customer", "Existing Customer - Upgrade", "Existing Customer - Renewal"),
        _s("LeadSource", 40),
        FieldDef("Description", FieldType.TEXTAREA, length=32000),
    )
    order = ObjectDef("Order", KEY_PREFIXES["Order"], autonumber_format="{0:08d}")
    order.add(
        *_system_fields(),
        _ref("AccountId", "Account", required=True),
        _ref("OpportunityId", "Opportunity"),
        FieldDef("EffectiveDate", FieldType.DATE, required=True),
        _pick("Status", "Draft", "Activated", restricted=True, required=True),
        FieldDef("OrderNumber", FieldType.AUTONUMBER, length=30, writable=False),
        FieldDef("Description", FieldType.TEXTAREA, length=32000),
        _s("Type", 40),
    )
    case = ObjectDef("Case", KEY_PREFIXES["Case"], autonumber_format="{0:08d}")
    case.add(
        *_system_fields(),
        FieldDef("CaseNumber", FieldType.AUTONUMBER, length=30, writable=False),
        _ref("AccountId", "Account"),
        _ref("ContactId", "Contact"),
        _s("Subject"),
        FieldDef("Description", FieldType.TEXTAREA, length=32000),
        _pick("Status", "New", "Working", "Escalated", "Closed", default="New"),
        _pick("Origin", "Phone", "Email", "Web"),
        _pick("Priority", "High", "Medium", "Low", default="Medium"),
        _pick("Type", "Problem", "Feature Request", "Question"),
        _s("Reason"),
    )
    task = ObjectDef("Task", KEY_PREFIXES["Task"])
    task.add(
        *_system_fields(),
        _ref("WhatId", "Account", "Opportunity", "Order", "Case", "Payment__c", "Subscription__c"),
        _ref("WhoId", "Contact"),
        _s("Subject"),
        FieldDef("Description", FieldType.TEXTAREA, length=32000),
        _pick("Status", "Not Started", "In Progress", "Completed", default="Not Started"),
        _pick("Priority", "High", "Normal", "Low", default="Normal"),
        FieldDef("ActivityDate", FieldType.DATE),
        _s("Type", 40),
    )
    payment = ObjectDef("Payment__c", KEY_PREFIXES["Payment__c"], autonumber_format="PAY-{0:06d}")
    payment.add(
        *_system_fields(),
        FieldDef("Name", FieldType.AUTONUMBER, "Payment Number", 80, writable=False),
        _s("PaymentID__c", 64, external_id=True, unique=True, label="Payment ID"),
        _ref("Opportunity__c", "Opportunity"),
        _ref("Order__c", "Order"),
        _ref("Account__c", "Account"),
        _ref("Subscription__c", "Subscription__c"),
        FieldDef("Amount__c", FieldType.CURRENCY),
        _pick("Status__c", *PAYMENT_STATUSES, restricted=True, required=True),
        FieldDef("TransactionDate__c", FieldType.DATETIME, label="Transaction Date"),
        _pick("PaymentMethodType__c", "Visa", "MasterCard", "American Express", "Discover", "ACH"),
        _s("Last4Digits__c", 4, label="Last 4 Digits"),
        _s("CustomerVaultID__c", 50, label="Customer Vault ID"),
        _pick("TransactionType__c", "Sale", "Authorization", "Capture", "Refund", "Void"),
        _s("Currency__c", 3),
    )
    return [
        account,
        contact,
        opportunity,
        order,
        case,
        task,
        payment,
        _settlement(),
        _subscription(),
    ]


def _settlement() -> ObjectDef:
    """One reconciled PayTrace settlement batch (paystream's settlement reconciliation)."""
    settlement = ObjectDef(
        "Settlement__c", KEY_PREFIXES["Settlement__c"], autonumber_format="STL-{0:06d}"
    )
    count = FieldType.DOUBLE
    settlement.add(
        *_system_fields(),
        FieldDef("Name", FieldType.AUTONUMBER, "Settlement Number", 80, writable=False),
        _s("BatchNumber__c", 32, external_id=True, unique=True, label="Batch Number"),
        FieldDef("SettledDate__c", FieldType.DATE, label="Settled Date"),
        FieldDef("TransactionCount__c", count, label="Transaction Count"),
        FieldDef("NetAmount__c", FieldType.CURRENCY, label="Net Amount"),
        FieldDef("TransactionsTotal__c", FieldType.CURRENCY, label="Transactions Total"),
        FieldDef("MatchedCount__c", count, label="Matched"),
        FieldDef("MismatchedCount__c", count, label="Mismatched"),
        FieldDef("MissingInSalesforce__c", count, label="Missing in Salesforce"),
        FieldDef("MissingInSagePro__c", count, label="Missing in Sage Pro"),
        FieldDef("AmountDiffers__c", count, label="Amount Differs"),
        _pick("Status__c", "Reconciled", "Mismatch", "Totals Differ", restricted=True),
        FieldDef("StatusReason__c", FieldType.TEXTAREA, "Status Reason", length=32000),
        _s("JournalEntryReference__c", 64, label="Journal Entry Reference"),
        FieldDef("ReconciledAt__c", FieldType.DATETIME, label="Reconciled At"),
    )
    return settlement


def _subscription() -> ObjectDef:
    """A recurring charge on an Account's vaulted card (paystream's recurring billing)."""
    sub = ObjectDef(
        "Subscription__c", KEY_PREFIXES["Subscription__c"], autonumber_format="SUB-{0:06d}"
    )
    number, day = FieldType.DOUBLE, FieldType.DATE
    sub.add(
        *_system_fields(),
        FieldDef("Name", FieldType.AUTONUMBER, "Subscription Number", 80, writable=False),
        _ref("Account__c", "Account", required=True),
        _s("CustomerVaultID__c", 50, label="Customer Vault ID"),
        FieldDef("Amount__c", FieldType.CURRENCY, required=True),
        _s("Currency__c", 3),
        _pick("Frequency__c", "Weekly", "Monthly", "Quarterly", "Annual", "Every N Days"),
        FieldDef("IntervalDays__c", number, label="Every N Days"),
        FieldDef("AnchorDay__c", number, label="Anchor Day"),
        FieldDef("StartDate__c", day, label="Start Date", required=True),
        FieldDef("EndDate__c", day, label="End Date"),
        FieldDef("TotalCount__c", number, label="Total Periods"),
        FieldDef("NextChargeDate__c", day, label="Next Charge Date"),
        _pick("Status__c", "Active", "Past Due", "Suspended", "Cancelled", default="Active"),
        FieldDef("RetryNow__c", FieldType.BOOLEAN, label="Retry Now"),
        FieldDef("PeriodsCharged__c", number, label="Periods Charged"),
        FieldDef("DunningPeriod__c", day, label="Unpaid Period"),
        FieldDef("DunningAttempt__c", number, label="Failed Attempts"),
        FieldDef("NextRetryDate__c", day, label="Next Retry Date"),
        _s("DeclinedCard__c", 40, label="Declined Card"),
    )
    return sub


def build_schema(
    extra_fields: Mapping[str, Iterable[str]] | None = None,
    external_ids: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, ObjectDef]:
    """The org's objects, plus text custom fields a user configured per object (those in
    ``external_ids`` marked External ID and Unique)."""
    objects = {obj.name: obj for obj in _standard_objects()}
    _add_text_fields(objects, "external_id_fields", external_ids, external_id=True, unique=True)
    _add_text_fields(objects, "extra_fields", extra_fields)
    return objects


def _add_text_fields(
    objects: dict[str, ObjectDef],
    setting: str,
    names_by_object: Mapping[str, Iterable[str]] | None,
    **flags: bool,
) -> None:
    """Text custom fields the ``setting`` names per object, as an admin would add them."""
    for object_name, names in (names_by_object or {}).items():
        obj = objects.get(object_name)
        if obj is None:
            raise ValueError(f"{setting}: unknown object {object_name!r}")
        for name in names:
            if not name.endswith("__c"):
                raise ValueError(f"{setting}: custom field {name!r} must end with __c")
            if obj.resolve(name) is None:
                obj.add(_s(name, **flags))


def resolve_object(schema: Mapping[str, ObjectDef], name: str) -> ObjectDef | None:
    for obj_name, obj in schema.items():
        if obj_name.lower() == name.lower():
            return obj
    return None
