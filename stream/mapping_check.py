"""``paystream mapping check FILE --against-org``: a mapping checked against the org and the
books it will write to, before a worker finds out one record at a time.

A mapping that loads can still name a field the org does not have, a field the integration
user cannot write, a picklist value the org refuses, or a GL account Sage Pro does not have.
Each of those is one line here, and all of them are found in one run: one describe per object
(Salesforce REST API, sObject Describe) and one read of the chart of accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from connectors.sagepro.gl_accounts import ChartOfAccounts
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.models import FieldDescribe, SObjectDescribe
from stream.mapping import Mapping

# to_paytrace keys something reads (agents/charge_agent.py fills only the description).
READ_TO_PAYTRACE_KEYS = frozenset({"description"})
# Where a canonical reference must point for the lookup to hold it.
LOOKUP_TARGETS = {
    "references.opportunity_id": "Opportunity",
    "references.order_id": "Order",
    "references.account_id": "Account",
}


def offline_problems(mapping: Mapping) -> list[str]:
    """What the file alone shows: keys nothing reads."""
    return [
        f"to_paytrace.{key}: nothing reads this key (only "
        f"{', '.join(sorted(READ_TO_PAYTRACE_KEYS))} is sent with a charge)"
        for key in mapping.to_paytrace
        if key not in READ_TO_PAYTRACE_KEYS
    ]


def produced_values(mapping: Mapping, source: str) -> set[str]:
    """Every value the payment sink can write for a source path (stream/to_salesforce.py)."""
    sf = mapping.salesforce
    if source == "status":
        return set(sf.status.values())
    if source == "card_type":
        return set(sf.card_types.values())
    if source == "type":
        return {str(t.value).title() for t in mapping.types.values()}
    return set()


@dataclass
class OrgCheck:
    """Collects problems; each object is described once."""

    sf: SalesforceClient
    problems: list[str] = field(default_factory=list)
    _described: dict[str, SObjectDescribe | None] = field(default_factory=dict)

    async def object(self, name: str, where: str) -> SObjectDescribe | None:
        if name not in self._described:
            self._described[name] = await self.sf.describe(name)
        described = self._described[name]
        if described is None:
            self.problems.append(f"{where}: object {name} does not exist in the org")
        return described

    def field(
        self, obj: SObjectDescribe, name: str, where: str, *, writes: bool
    ) -> FieldDescribe | None:
        found = obj.field(name)
        if found is None:
            self.problems.append(f"{where}: field {obj.name}.{name} does not exist")
            return None
        # An upsert creates or updates, so a written field must allow both.
        if writes and not (found.createable and found.updateable):
            self.problems.append(f"{where}: field {obj.name}.{name} is not writable by the API")
        return found

    def values(self, found: FieldDescribe, obj: str, values: Iterable[str], where: str) -> None:
        # Only a restricted picklist refuses a value outside its list (the write fails with
        # INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST); an unrestricted one stores it as given.
        if found.type not in ("picklist", "multipicklist") or not found.restrictedPicklist:
            return
        for value in sorted(set(values) - found.active_values() - {""}):
            self.problems.append(
                f"{where}: {value!r} is not an active value of restricted picklist "
                f"{obj}.{found.name}"
            )

    def lookup(self, found: FieldDescribe, obj: str, target: str, where: str) -> None:
        if target not in found.referenceTo:
            points = ", ".join(found.referenceTo) or "nothing (not a lookup)"
            self.problems.append(f"{where}: {obj}.{found.name} points to {points}, not {target}")

    def external_id(self, obj: SObjectDescribe, name: str, where: str) -> None:
        found = self.field(obj, name, where, writes=True)
        if found is not None and not found.externalId:
            self.problems.append(f"{where}: {obj.name}.{name} is not an external id field")

    async def payments(self, mapping: Mapping) -> None:
        sf = mapping.salesforce
        obj = await self.object(sf.object, "salesforce.object")
        if obj is None:
            return
        self.external_id(obj, sf.external_id_field, "salesforce.external_id_field")
        for name, source in sf.fields.items():
            where = f"salesforce.fields.{name}"
            found = self.field(obj, name, where, writes=True)
            if found is None:
                continue
            self.values(found, obj.name, produced_values(mapping, source), where)
            if source in LOOKUP_TARGETS:
                self.lookup(found, obj.name, LOOKUP_TARGETS[source], where)

    async def settlements(self, mapping: Mapping) -> None:
        target = mapping.salesforce.settlement
        obj = await self.object(target.object, "salesforce.settlement.object")
        if obj is None:
            return
        self.external_id(obj, target.external_id_field, "salesforce.settlement.external_id_field")
        for name, source in target.fields.items():
            where = f"salesforce.settlement.fields.{name}"
            found = self.field(obj, name, where, writes=True)
            if found is not None and source == "status":
                self.values(found, obj.name, target.status.values(), where)

    async def collection(self, mapping: Mapping) -> None:
        collection = mapping.collection
        account = await self.object("Account", "collection")
        if account is not None:
            self.field(
                account, collection.vault_id_field, "collection.vault_id_field", writes=False
            )
        objects = {t.object for t in collection.triggers} | set(collection.amount_fields)
        for index, trigger in enumerate(collection.triggers):
            where = f"collection.triggers[{index}]"
            obj = await self.object(trigger.object, where)
            if obj is None or trigger.field is None:
                continue
            found = self.field(obj, trigger.field, f"{where}.field", writes=False)
            if found is not None and trigger.value is not None:
                self.values(found, obj.name, [trigger.value], f"{where}.value")
        for name in sorted(objects):
            obj = await self.object(name, "collection")
            if obj is None:
                continue
            amount = collection.amount_fields.get(name)
            if amount:
                self.field(obj, amount, f"collection.amount_fields.{name}", writes=False)
            found = self.field(
                obj, collection.account_field, "collection.account_field", writes=False
            )
            if found is not None:
                self.lookup(found, name, "Account", "collection.account_field")
            for key, written in (
                ("status_field", collection.status_field),
                ("transaction_field", collection.transaction_field),
            ):
                if not written:
                    continue
                found = self.field(obj, written, f"collection.{key}", writes=True)
                if found is not None and key == "status_field":
                    self.values(found, name, collection.statuses.values(), "collection.statuses")

    async def risk(self, mapping: Mapping) -> None:
        """agents/risk_actions.py writes the score and reasons on the payment object and a
        review Case with the mapping's key field and priority."""
        risk = mapping.risk
        payment = await self.object(mapping.salesforce.object, "salesforce.object")
        if payment is not None:
            for key in ("score_field", "reasons_field"):
                self.field(payment, getattr(risk, key), f"risk.{key}", writes=True)
        case = await self.object("Case", "risk")
        if case is None:
            return
        self.field(case, risk.case_id_field, "risk.case_id_field", writes=True)
        priority = self.field(case, "Priority", "risk.case_priority", writes=True)
        if priority is not None:
            self.values(priority, "Case", [risk.case_priority], "risk.case_priority")


def gl_accounts(mapping: Mapping) -> dict[str, str]:
    """Every GL account the mapping names -> where it names it."""
    sage = mapping.sagepro
    named: dict[str, str] = {}
    for kind, rule in sage.gl_accounts.items():
        named.setdefault(rule.debit, f"sagepro.gl_accounts.{kind}.debit")
        named.setdefault(rule.credit, f"sagepro.gl_accounts.{kind}.credit")
    for group in ("settlement", "disputes"):
        section = getattr(sage, group, None)  # disputes: only in mappings that have the flow
        accounts = section.model_dump() if section is not None else {}
        for key, value in accounts.items():
            if key != "reference_prefix":
                named.setdefault(str(value), f"sagepro.{group}.{key}")
    return named


async def check_against_org(
    mapping: Mapping, sf: SalesforceClient, chart: ChartOfAccounts
) -> list[str]:
    """Every problem, one line each; empty when the org and the books take this mapping."""
    check = OrgCheck(sf)
    await check.payments(mapping)
    await check.settlements(mapping)
    await check.collection(mapping)
    await check.risk(mapping)
    active = await chart.active()
    for account, where in sorted(gl_accounts(mapping).items(), key=lambda item: item[1]):
        if account not in active:
            check.problems.append(
                f"{where}: GL account {account!r} does not exist or is inactive in Sage Pro"
            )
    return offline_problems(mapping) + check.problems


async def run_against_org(mapping: Mapping) -> list[str]:
    """With the worker's own settings (environment / config file), as a worker would connect."""
    from connectors.sagepro.client import SageProRestClient
    from connectors.sagepro.settings import SageProSettings
    from connectors.salesforce.settings import SalesforceSettings

    async with (
        SalesforceClient.from_settings(SalesforceSettings()) as sf,
        SageProRestClient.from_settings(SageProSettings()) as sage,
    ):
        assert isinstance(sf, SalesforceClient)
        return await check_against_org(mapping, sf, ChartOfAccounts(sage))
