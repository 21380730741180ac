"""The three emulators as one sandbox: for `paystream emulate`, the demo and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from connectors.base.emulator import EmulatorServer
from connectors.paytrace import emulator as paytrace_emulator
from connectors.sagepro import emulator as sagepro_emulator
from connectors.salesforce import emulator as salesforce_emulator
from connectors.salesforce.emulator.pubsub_server import pubsub_url

SYSTEMS = ("paytrace", "salesforce", "sagepro")

# The custom fields paystream's default mapping writes, as an admin would add them to an org.
SANDBOX_FIELDS = {
    "Payment__c": ["SalesRepID__c", "Campaign_Source__c"],
    "Opportunity": ["PaymentStatus__c", "PaymentTransactionID__c"],
    # Order.TotalAmount is a roll-up of order products in a real org; the sandbox has none.
    "Order": ["PaymentStatus__c", "PaymentTransactionID__c", "Amount__c"],
}


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)  # 0 or missing: any free port
    data_dir: Path | None = None
    paytrace: paytrace_emulator.EmulatorConfig = field(
        default_factory=paytrace_emulator.EmulatorConfig
    )
    salesforce: salesforce_emulator.EmulatorConfig = field(
        default_factory=lambda: salesforce_emulator.EmulatorConfig(extra_fields=SANDBOX_FIELDS)
    )
    sagepro: sagepro_emulator.EmulatorConfig = field(
        default_factory=sagepro_emulator.EmulatorConfig
    )


@dataclass
class Sandbox:
    servers: dict[str, EmulatorServer] = field(default_factory=dict)
    config: SandboxConfig = field(default_factory=SandboxConfig)

    def url(self, system: str) -> str:
        return self.servers[system].base_url

    def worker_env(self) -> dict[str, str]:
        """Environment that points a worker at these emulators."""
        env: dict[str, str] = {}
        if "paytrace" in self.servers:
            cfg = self.config.paytrace
            env |= {
                "PAYSTREAM_PAYTRACE_BASE_URL": self.url("paytrace"),
                "PAYSTREAM_PAYTRACE_USERNAME": cfg.username,
                "PAYSTREAM_PAYTRACE_PASSWORD": cfg.password,
                "PAYSTREAM_PAYTRACE_TIMEZONE": cfg.timezone,
            }
        if "salesforce" in self.servers:
            sf = self.config.salesforce
            env |= {
                "PAYSTREAM_SALESFORCE_PUBSUB_URL": pubsub_url(self.servers["salesforce"].app),
                "PAYSTREAM_SALESFORCE_LOGIN_URL": self.url("salesforce"),
                "PAYSTREAM_SALESFORCE_CLIENT_ID": sf.client_id,
                "PAYSTREAM_SALESFORCE_CLIENT_SECRET": sf.client_secret,
            }
        if "sagepro" in self.servers:
            env |= {
                "PAYSTREAM_SAGEPRO_BASE_URL": self.url("sagepro"),
                "PAYSTREAM_SAGEPRO_API_KEY": self.config.sagepro.api_key,
            }
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
                "paytrace": paytrace_emulator,
                "salesforce": salesforce_emulator,
                "sagepro": sagepro_emulator,
            }[system]
            server = EmulatorServer(
                module.create_app(sub), config.host, config.ports.get(system, 0)
            )
            sandbox.servers[system] = await server.start()
    except BaseException:
        await sandbox.stop()
        raise
    return sandbox
