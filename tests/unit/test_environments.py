"""Named environments: config-file overlays selected by PAYSTREAM_ENV, per-environment secrets,
topic prefix and consumer group, and ``paystream config show`` with secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.settings import SageProSettings
from stream.cli import app
from stream.environments import effective
from stream.settings import KafkaSettings, WorkerSettings

runner = CliRunner()
CONFIG = """
kafka: {partitions: 6}
paytrace: {timezone: America/Chicago, username: base-user}
environments:
  dev:
    paytrace: {base_url: "http://127.0.0.1:9001", password: dev-password}
  qa:
    kafka: {topic_prefix: shared}
    paytrace: {base_url: "https://qa.example.test", password: qa-password}
  prod:
    kafka: {topic_prefix: shared}
    worker: {app_id: acme-prod}
    paytrace: {base_url: "https://api.paytrace.com", username: acme}
    sagepro: {base_url: "http://localhost:8080", api_key: demo-sage-key}
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("PAYSTREAM_ENV", "PAYSTREAM_SECRETS_DIR", "PAYSTREAM_KAFKA_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "paystream.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("PAYSTREAM_CONFIG", str(path))
    return path


def test_no_environment_keeps_the_base_sections(config: Path) -> None:
    assert KafkaSettings().topic_prefix == "paystream"
    assert KafkaSettings().partitions == 6
    assert WorkerSettings().app_id == "paystream"


def test_an_environment_overlays_endpoints_credentials_prefix_and_group(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYSTREAM_ENV", "dev")
    dev = PayTraceSettings()
    assert (dev.base_url, dev.username, dev.timezone) == (
        "http://127.0.0.1:9001",
        "base-user",
        "America/Chicago",
    )
    assert dev.password.get_secret_value() == "dev-password"
    # Nothing configured: the environment's own prefix and consumer group.
    assert KafkaSettings().topic_prefix == "paystream-dev"
    assert WorkerSettings().app_id == "paystream-dev"
    assert KafkaSettings().partitions == 6
    monkeypatch.setenv("PAYSTREAM_ENV", "prod")
    assert PayTraceSettings(password="p").username == "acme"
    assert WorkerSettings().app_id == "acme-prod"


def test_an_environment_reads_its_own_secrets_first(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "prod").mkdir(parents=True)
    (secrets / "paystream_paytrace_password").write_text("shared-password")
    (secrets / "prod" / "paystream_paytrace_password").write_text("prod-password")
    monkeypatch.setenv("PAYSTREAM_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("PAYSTREAM_ENV", "prod")
    assert PayTraceSettings().password.get_secret_value() == "prod-password"
    # No qa directory: the shared secret, which wins over the file as documented.
    monkeypatch.setenv("PAYSTREAM_ENV", "qa")
    assert PayTraceSettings().password.get_secret_value() == "shared-password"
    monkeypatch.delenv("PAYSTREAM_ENV")
    assert PayTraceSettings(base_url="x").password.get_secret_value() == "shared-password"


def test_unknown_and_malformed_environments_are_refused(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYSTREAM_ENV", "staging")
    with pytest.raises(ValueError, match="known: dev, prod, qa"):
        KafkaSettings()
    result = runner.invoke(app, ["config", "show", "--env", "Prod!"])
    assert result.exit_code == 2


def test_config_show_masks_secrets_and_names_what_is_wrong(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYSTREAM_PAYTRACE_PASSWORD", "live-secret")
    monkeypatch.setenv("PAYSTREAM_INGRESS_SECRETS", '{"processor": ["ingress-secret-0123456789"]}')
    result = runner.invoke(app, ["config", "show", "--env", "prod"])
    assert result.exit_code == 1
    out = result.output
    assert "environment: prod" in out
    assert "base_url = https://api.paytrace.com" in out
    assert "api_key = **********" in out
    assert "demo-sage-key" not in out
    assert "password = **********" in out
    assert "live-secret" not in out
    assert "secrets = {'processor': ['**********']}" in out
    assert "ingress-secret" not in out
    assert "missing: PAYSTREAM_SALESFORCE_LOGIN_URL" in out
    assert "problem: PAYSTREAM_SAGEPRO_API_KEY: the sandbox's credential in environment prod" in out
    assert "PAYSTREAM_SAGEPRO_BASE_URL: http://localhost:8080 is this machine" in out
    assert "environments prod and qa share the topic prefix 'shared'" in out


def test_effective_dev_allows_the_sandbox(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_SAGEPRO_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("PAYSTREAM_SAGEPRO_API_KEY", "demo-sage-key")
    dev = effective("dev")
    assert dev.environment == "dev"
    assert not [p for p in dev.problems if "environment dev" in p]
    sage = next(s for s in dev.sections if s.title == "sagepro")
    assert sage.values["api_key"] == "**********"
    assert SageProSettings().api_key.get_secret_value() == "demo-sage-key"


def test_a_production_worker_refuses_the_sandbox(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYSTREAM_ENV", "prod")
    monkeypatch.setenv("PAYSTREAM_PAYTRACE_PASSWORD", "demo-password")  # the emulator's
    monkeypatch.setenv("PAYSTREAM_SALESFORCE_LOGIN_URL", "https://login.salesforce.com")
    monkeypatch.setenv("PAYSTREAM_SALESFORCE_CLIENT_ID", "live-app")
    monkeypatch.setenv("PAYSTREAM_SALESFORCE_CLIENT_SECRET", "live-secret")
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "PAYSTREAM_PAYTRACE_PASSWORD: the sandbox's credential in environment prod" in (
        result.stderr
    )
    assert "PAYSTREAM_SAGEPRO_BASE_URL: http://localhost:8080 is this machine" in result.stderr
    monkeypatch.setenv("PAYSTREAM_ENV", "staging")
    unknown = runner.invoke(app, ["worker"])
    assert unknown.exit_code == 2
    assert "no environment 'staging'" in unknown.stderr
