"""Every shipped mapping template checked ``--against-org`` on the Salesforce and Sage Pro
emulators (the sandbox org): a template brings no problem the default mapping does not have
(the default passes there, see test_mapping_check.py)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import yaml

from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.gl_accounts import ChartOfAccounts
from connectors.salesforce.client import SalesforceClient
from stream.mapping import Mapping, load_mapping
from stream.mapping_check import check_against_org
from stream.mapping_templates import templates
from stream.mapping_version import mapping_version
from stream.sandbox import SandboxConfig, sagepro_settings, salesforce_settings, start_sandbox

pytestmark = pytest.mark.integration
CONTRA = next(t.path for t in templates() if t.name == "sagepro-gl-contra-revenue")


async def promote(env: dict[str, str], tmp_path: Path) -> list[tuple[int, str]]:
    """``mapping check --against-org --env E`` for qa (the sandbox) and prod, in a real
    process reading one config file with both environments."""
    config = {
        "environments": {
            "qa": {
                "salesforce": {
                    "login_url": env["PAYSTREAM_SALESFORCE_LOGIN_URL"],
                    "client_id": env["PAYSTREAM_SALESFORCE_CLIENT_ID"],
                    "client_secret": env["PAYSTREAM_SALESFORCE_CLIENT_SECRET"],
                },
                "sagepro": {
                    "base_url": env["PAYSTREAM_SAGEPRO_BASE_URL"],
                    "api_key": env["PAYSTREAM_SAGEPRO_API_KEY"],
                },
            },
            "prod": {"sagepro": {"base_url": "http://127.0.0.1:9", "api_key": "k"}},
        }
    }
    path = tmp_path / "paystream.yaml"
    path.write_text(yaml.safe_dump(config))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_")}
    results = []
    for name in ("qa", "prod"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stream.cli",
            "mapping",
            "check",
            str(CONTRA),
            "--against-org",
            "--env",
            name,
            env={**clean, "PAYSTREAM_CONFIG": str(path)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        results.append((proc.returncode or 0, out.decode()))
    return results


async def test_each_template_passes_against_the_sandbox_org(tmp_path: Path) -> None:
    sandbox = await start_sandbox(SandboxConfig(), systems=("salesforce", "sagepro"))
    try:
        env = sandbox.worker_env()
        sf_settings = salesforce_settings(
            env["PAYSTREAM_SALESFORCE_LOGIN_URL"],
            client_id=env["PAYSTREAM_SALESFORCE_CLIENT_ID"],
            client_secret=env["PAYSTREAM_SALESFORCE_CLIENT_SECRET"],
        )
        async with (
            SalesforceClient.from_settings(sf_settings) as sf,
            SageProRestClient.from_settings(
                sagepro_settings(env["PAYSTREAM_SAGEPRO_BASE_URL"])
            ) as sage,
        ):
            assert isinstance(sf, SalesforceClient)

            async def problems(mapping: Mapping) -> set[str]:
                return set(await check_against_org(mapping, sf, ChartOfAccounts(sage)))

            baseline = await problems(load_mapping())
            checked = {t.name: await problems(load_mapping(t.path)) for t in templates()}
        promoted = await promote(env, tmp_path)
    finally:
        await sandbox.stop()
    # Promotion: the same mapping version, checked against each environment's org; qa is the
    # sandbox, prod names a Sage Pro that is not there (an org the check cannot reach).
    qa, prod = promoted
    version = mapping_version(load_mapping(CONTRA))
    assert qa[0] == 0, qa[1]
    assert f"mapping version {version} ok in environment qa" in qa[1]
    assert prod[0] != 0
    assert "ok in environment prod" not in prod[1]
    assert len(checked) == 5
    for name, found in checked.items():
        assert found <= baseline, f"{name}: {sorted(found - baseline)}"
