"""`paystream demo` end to end at a small size: everything it checks converges, including the
disputes it sends through `paystream ingress` and `paystream disputes import`, read back from
the emulators' APIs (cases, credit memos, journal entries, the ledger balanced)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

pytestmark = pytest.mark.integration


async def test_small_demo_converges_with_its_disputes() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_")}
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stream.cli",
        "demo",
        "--events",
        "40",
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(run.communicate(), 300)
    assert run.returncode == 0, err.decode()[-3000:]
    summary = json.loads(out)
    assert summary["ok"] is True and summary["dead_letters"] == 0
    assert summary["dispute_cases"] == 4
    assert summary["disputes_sent"] == 15  # 2 pushed cases x stages x 2 deliveries + 3 rows
    assert summary["dispute_salesforce_cases"] == 4
    assert summary["dispute_sagepro_credit_memos"] == 4
    assert summary["dispute_journal_entries"] == 7  # 4 chargebacks, 1 returned, 2 lost
    assert summary["dispute_ledger_balanced"] is True and summary["dispute_problems"] == []
