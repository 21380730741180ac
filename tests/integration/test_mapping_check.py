"""``paystream mapping check FILE --against-org`` against the Salesforce and Sage Pro emulators
(the sandbox's org, with the custom fields a deployment adds): the default mapping passes; a
misspelled field, a bad picklist value and an unknown GL account are each one line."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.gl_accounts import ChartOfAccounts
from connectors.salesforce.client import SalesforceClient
from stream.mapping import DEFAULT_MAPPING, Mapping
from stream.mapping_check import check_against_org
from stream.sandbox import (
    Sandbox,
    SandboxConfig,
    sagepro_settings,
    salesforce_settings,
    start_sandbox,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    running = await start_sandbox(SandboxConfig(), systems=("salesforce", "sagepro"))
    try:
        yield running
    finally:
        await running.stop()


def mapping_with(**changes: Any) -> Mapping:
    data = yaml.safe_load(DEFAULT_MAPPING.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return Mapping.model_validate(data)


async def problems(sandbox: Sandbox, mapping: Mapping) -> list[str]:
    env = sandbox.worker_env()
    sf_settings = salesforce_settings(
        env["PAYSTREAM_SALESFORCE_LOGIN_URL"],
        client_id=env["PAYSTREAM_SALESFORCE_CLIENT_ID"],
        client_secret=env["PAYSTREAM_SALESFORCE_CLIENT_SECRET"],
    )
    sage_settings = sagepro_settings(env["PAYSTREAM_SAGEPRO_BASE_URL"])

    async with (
        SalesforceClient.from_settings(sf_settings) as sf,
        SageProRestClient.from_settings(sage_settings) as sage,
    ):
        assert isinstance(sf, SalesforceClient)
        return await check_against_org(mapping, sf, ChartOfAccounts(sage))


async def test_default_mapping_passes(sandbox: Sandbox) -> None:
    assert await problems(sandbox, mapping_with()) == []


async def test_misspelled_field_bad_picklist_and_unknown_gl_account(sandbox: Sandbox) -> None:
    fields = yaml.safe_load(DEFAULT_MAPPING.read_text())["salesforce"]["fields"]
    fields["Ammount__c"] = fields.pop("Amount__c")
    mapping = mapping_with(
        salesforce__fields=fields,
        salesforce__status__refunded="Refund Issued",
        sagepro__gl_accounts__chargeback={"debit": "1299", "credit": "1010"},
    )
    found = await problems(sandbox, mapping)
    assert sorted(found) == sorted(
        [
            "salesforce.fields.Ammount__c: field Payment__c.Ammount__c does not exist",
            "salesforce.fields.Status__c: 'Refund Issued' is not an active value of restricted "
            "picklist Payment__c.Status__c",
            "sagepro.gl_accounts.chargeback.debit: GL account '1299' does not exist or is "
            "inactive in Sage Pro",
        ]
    )


async def test_external_id_lookup_and_writability(sandbox: Sandbox) -> None:
    fields = yaml.safe_load(DEFAULT_MAPPING.read_text())["salesforce"]["fields"]
    fields["Order__c"] = "references.opportunity_id"  # a lookup to Order fed an Opportunity
    fields["Name"] = "transaction_id"  # the auto-number: not writable
    mapping = mapping_with(
        salesforce__fields=fields,
        salesforce__external_id_field="Currency__c",
        to_paytrace__invoice_id="{SalesRepID}",
    )
    found = await problems(sandbox, mapping)
    assert sorted(found) == sorted(
        [
            "to_paytrace.invoice_id: nothing reads this key "
            "(only description is sent with a charge)",
            "salesforce.external_id_field: Payment__c.Currency__c is not an external id field",
            "salesforce.fields.Order__c: Payment__c.Order__c points to Order, not Opportunity",
            "salesforce.fields.Name: field Payment__c.Name is not writable by the API",
        ]
    )


async def test_risk_score_field_and_case_key_are_checked(sandbox: Sandbox) -> None:
    mapping = mapping_with(risk__score_field="Risk_Scor__c", risk__case_id_field="CaseNumber")
    assert sorted(await problems(sandbox, mapping)) == [
        "risk.case_id_field: field Case.CaseNumber is not writable by the API",
        "risk.score_field: field Payment__c.Risk_Scor__c does not exist",
    ]


async def test_cli_exits_1_with_one_line_per_problem(sandbox: Sandbox, tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_MAPPING.read_text())
    data["salesforce"]["status"]["voided"] = "Cancelled"
    data["sagepro"]["settlement"]["bank"] = "1999"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    env = {**os.environ, **sandbox.worker_env()}

    async def run(path: Path) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stream.cli",
            "mapping",
            "check",
            str(path),
            "--against-org",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return int(process.returncode or 0), (out + err).decode()

    code, output = await run(bad)
    lines = [line for line in output.splitlines() if line.startswith(str(bad))]
    assert code == 1 and len(lines) == 2, output
    assert "'Cancelled' is not an active value" in lines[0]
    assert "sagepro.settlement.bank: GL account '1999'" in lines[1]
    code, output = await run(DEFAULT_MAPPING)
    assert code == 0, output
