"""The three emulators as one sandbox: for `paystream emulate`, the demo and the tests.

The ONE home of sandbox values: the emulators' credentials, and the worker settings/env that
point at them. Production settings have no defaults (connectors/*/settings.py), so whatever
talks to a sandbox takes its values from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.dispute_salesforce import CASE_FIELDS as DISPUTE_CASE_FIELDS
from connectors.base.emulator import EmulatorServer
from connectors.paytrace.emulator import app as paytrace_app
from connectors.paytrace.emulator.config import EmulatorConfig as PayTraceEmulatorConfig
from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.emulator import app as sagepro_app
from connectors.sagepro.emulator.app import EmulatorConfig as SageProEmulatorConfig
from connectors.sagepro.settings import SageProSettings
from connectors.salesforce.emulator import app as salesforce_app
from connectors.salesforce.emulator.config import EmulatorConfig as SalesforceEmulatorConfig
from connectors.salesforce.emulator.pubsub_server import pubsub_url
from connectors.salesforce.settings import SalesforceSettings

SYSTEMS = ("paytrace", "salesforce", "sagepro")

# The emulators' credentials (documented sandbox values, never production defaults).
PAYTRACE_USERNAME = "demo"
PAYTRACE_PASSWORD = "demo-password"
SALESFORCE_CLIENT_ID = "paystream-demo"
SALESFORCE_CLIENT_SECRET = "demo-secret"
SAGEPRO_API_KEY = "demo-sage-key"

CREDENTIALS_ENV = {
    "PAYSTREAM_PAYTRACE_USERNAME": PAYTRACE_USERNAME,
    "PAYSTREAM_PAYTRACE_PASSWORD": PAYTRACE_PASSWORD,
    "PAYSTREAM_SALESFORCE_CLIENT_ID": SALESFORCE_CLIENT_ID,
    "PAYSTREAM_SALESFORCE_CLIENT_SECRET": SALESFORCE_CLIENT_SECRET,
    "PAYSTREAM_SAGEPRO_API_KEY": SAGEPRO_API_KEY,
}


def paytrace_settings(base_url: str, **overrides: Any) -> PayTraceSettings:
    """Settings for a PayTrace emulator at ``base_url`` with the sandbox login."""
    values = {"username": PAYTRACE_USERNAME, "password": PAYTRACE_PASSWORD, **overrides}
    return PayTraceSettings(base_url=base_url, **values)


def salesforce_settings(login_url: str, **overrides: Any) -> SalesforceSettings:
    """Settings for a Salesforce emulator at ``login_url`` with the sandbox connected app."""
    values = {
        "client_id": SALESFORCE_CLIENT_ID,
        "client_secret": SALESFORCE_CLIENT_SECRET,
        **overrides,
    }
    return SalesforceSettings(login_url=login_url, **values)


def sagepro_settings(base_url: str, **overrides: Any) -> SageProSettings:
    """Settings for a Sage Pro emulator at ``base_url`` with the sandbox API key."""
    return SageProSettings(base_url=base_url, **{"api_key": SAGEPRO_API_KEY, **overrides})


def worker_env(urls: dict[str, str], pubsub: str | None = None) -> dict[str, str]:
    """Worker environment for emulators at ``urls`` (system -> base URL), credentials included."""
    env = dict(CREDENTIALS_ENV)
    if "paytrace" in urls:
        env["PAYSTREAM_PAYTRACE_BASE_URL"] = urls["paytrace"]
    if "salesforce" in urls:
        env["PAYSTREAM_SALESFORCE_LOGIN_URL"] = urls["salesforce"]
    if pubsub is not None:
        env["PAYSTREAM_SALESFORCE_PUBSUB_URL"] = pubsub
    if "sagepro" in urls:
        env["PAYSTREAM_SAGEPRO_BASE_URL"] = urls["sagepro"]
    return env


# The custom fields paystream's default mapping writes, as an admin would add them to an org.
SANDBOX_FIELDS = {
    # Risk scoring (agents/risk_actions.py) adds the score, its reasons and the review Case key.
    "Payment__c": ["SalesRepID__c", "Campaign_Source__c", "Risk_Score__c", "Risk_Reasons__c"],
    "Opportunity": ["PaymentStatus__c", "PaymentTransactionID__c"],
    # Order.TotalAmount is a roll-up of order products in a real org; the sandbox has none.
    "Order": ["PaymentStatus__c", "PaymentTransactionID__c", "Amount__c"],
    # Disputes (agents/dispute_salesforce.py): the Case is found by Dispute_Case_Id__c (an
    # external id in a real org; text here) and links the payment, Opportunity and Order.
    "Case": [*DISPUTE_CASE_FIELDS, "Risk_Case_Key__c"],
}
# Risk review Cases are upserted by their key (agents/risk_actions.py): External ID + Unique.
SANDBOX_EXTERNAL_IDS = {"Case": ["Risk_Case_Key__c"]}


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)  # 0 or missing: any free port
    data_dir: Path | None = None
    paytrace: PayTraceEmulatorConfig = field(
        default_factory=lambda: PayTraceEmulatorConfig(
            username=PAYTRACE_USERNAME, password=PAYTRACE_PASSWORD
        )
    )
    salesforce: SalesforceEmulatorConfig = field(
        default_factory=lambda: SalesforceEmulatorConfig(
            client_id=SALESFORCE_CLIENT_ID,
            client_secret=SALESFORCE_CLIENT_SECRET,
            extra_fields=SANDBOX_FIELDS,
            external_id_fields=SANDBOX_EXTERNAL_IDS,
        )
    )
    sagepro: SageProEmulatorConfig = field(
        default_factory=lambda: SageProEmulatorConfig(api_key=SAGEPRO_API_KEY)
    )


@dataclass
class Sandbox:
    servers: dict[str, EmulatorServer] = field(default_factory=dict)
    config: SandboxConfig = field(default_factory=SandboxConfig)

    def url(self, system: str) -> str:
        return self.servers[system].base_url

    def worker_env(self) -> dict[str, str]:
        """Environment that points a worker at these emulators."""
        urls = {system: self.url(system) for system in self.servers}
        pubsub = (
            pubsub_url(self.servers["salesforce"].app) if "salesforce" in self.servers else None
        )
        env = worker_env(urls, pubsub)
        # The emulators' own credentials win (`paystream emulate` may be given others).
        cfg = self.config
        env |= {
            "PAYSTREAM_PAYTRACE_USERNAME": cfg.paytrace.username,
            "PAYSTREAM_PAYTRACE_PASSWORD": cfg.paytrace.password,
            "PAYSTREAM_SALESFORCE_CLIENT_ID": cfg.salesforce.client_id,
            "PAYSTREAM_SALESFORCE_CLIENT_SECRET": cfg.salesforce.client_secret,
            "PAYSTREAM_SAGEPRO_API_KEY": cfg.sagepro.api_key,
        }
        if "paytrace" in self.servers:
            env["PAYSTREAM_PAYTRACE_TIMEZONE"] = cfg.paytrace.timezone
        return env

    async def stop(self) -> None:
        servers, self.servers = self.servers, {}
        for server in servers.values():
            await server.stop()


async def start_sandbox(config: SandboxConfig, systems: tuple[str, ...] = SYSTEMS) -> Sandbox:
    sandbox = Sandbox(config=config)
    try:
        for system in systems:
            sub = getattr(config, system).model_copy()
            if config.data_dir is not None:
                sub.data_dir = config.data_dir / system
            if system == "salesforce" and sub.pubsub_port is None:
                sub.pubsub_port = config.ports.get("salesforce_pubsub", 0)
            module = {
                "paytrace": paytrace_app,
                "salesforce": salesforce_app,
                "sagepro": sagepro_app,
            }[system]
            server = EmulatorServer(
                module.create_app(sub), config.host, config.ports.get(system, 0)
            )
            sandbox.servers[system] = await server.start()
    except BaseException:
        await sandbox.stop()
        raise
    return sandbox
