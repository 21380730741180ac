"""Worker and Kafka settings: environment, the PAYSTREAM_CONFIG file, secrets kept out of sight."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from connectors.base.settings import (
    SECRETS_DIR_ENV,
    FileBackedSettings,
    SettingsProblem,
    require_all,
)
from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.settings import SageProSettings
from connectors.salesforce.settings import SalesforceSettings
from stream import sandbox
from stream.settings import CONFIG_ENV, KafkaSettings, WorkerSettings

PASSWORD = "hunter2-not-for-logs"

TOML_CONFIG = """
log_level = "debug"

[kafka]
bootstrap = "file-broker:9092"
partitions = 6
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "paystream"
sasl_password = "hunter2-not-for-logs"

[worker]
app_id = "paystream-from-file"
processing_guarantee = "at_least_once"
web_port = 7001
"""

YAML_CONFIG = """
kafka:
  bootstrap: file-broker:9092
  partitions: 6
  security_protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-512
  sasl_username: paystream
  sasl_password: hunter2-not-for-logs
worker:
  app_id: paystream-from-file
  processing_guarantee: at_least_once
  web_port: 7001
"""


def _clear_paystream_env() -> None:
    for name in [n for n in os.environ if n.startswith("PAYSTREAM_")]:
        del os.environ[name]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No PAYSTREAM_* from the developer's shell; monkeypatch restores them afterwards."""
    for name in [n for n in os.environ if n.startswith("PAYSTREAM_")]:
        monkeypatch.delenv(name)
    yield


def test_defaults_without_env_or_file() -> None:
    kafka, worker = KafkaSettings(), WorkerSettings()
    assert kafka.bootstrap is None  # the embedded broker will be started
    assert kafka.partitions == 4
    assert kafka.security_protocol == "PLAINTEXT"
    assert worker.processing_guarantee == "at_least_once"
    assert worker.app_id == "paystream"


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("PAYSTREAM_KAFKA_PARTITIONS", "12")
    monkeypatch.setenv("PAYSTREAM_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("PAYSTREAM_PROCESSING_GUARANTEE", "at_least_once")
    monkeypatch.setenv("PAYSTREAM_WEB_PORT", "6100")
    monkeypatch.setenv("PAYSTREAM_APP_ID", "paystream-eu")
    kafka, worker = KafkaSettings(), WorkerSettings()
    assert kafka.bootstrap == "kafka-1:9092,kafka-2:9092"
    assert kafka.partitions == 12
    assert kafka.sasl_password is not None
    assert kafka.sasl_password.get_secret_value() == PASSWORD
    assert worker.processing_guarantee == "at_least_once"
    assert worker.web_port == 6100
    assert worker.app_id == "paystream-eu"


@pytest.mark.parametrize(("suffix", "text"), [(".toml", TOML_CONFIG), (".yaml", YAML_CONFIG)])
def test_config_file_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, text: str
) -> None:
    path = tmp_path / f"paystream{suffix}"
    path.write_text(text)
    monkeypatch.setenv(CONFIG_ENV, str(path))
    kafka, worker = KafkaSettings(), WorkerSettings()
    assert kafka.bootstrap == "file-broker:9092"
    assert kafka.partitions == 6
    assert kafka.security_protocol == "SASL_SSL"
    assert kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert kafka.sasl_password is not None
    assert kafka.sasl_password.get_secret_value() == PASSWORD
    assert worker.app_id == "paystream-from-file"
    assert worker.processing_guarantee == "at_least_once"
    assert worker.web_port == 7001
    # One section does not leak into the other.
    assert worker.data_dir == WorkerSettings.model_fields["data_dir"].default


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "paystream.toml"
    path.write_text(TOML_CONFIG)
    monkeypatch.setenv(CONFIG_ENV, str(path))
    monkeypatch.setenv("PAYSTREAM_KAFKA_BOOTSTRAP", "env-broker:9092")
    monkeypatch.setenv("PAYSTREAM_PROCESSING_GUARANTEE", "exactly_once")
    kafka, worker = KafkaSettings(), WorkerSettings()
    assert kafka.bootstrap == "env-broker:9092"
    assert kafka.partitions == 6  # not in the environment: still from the file
    assert worker.processing_guarantee == "exactly_once"
    assert worker.web_port == 7001


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_PROCESSING_GUARANTEE", "at_most_once")
    with pytest.raises(ValidationError):
        WorkerSettings()
    monkeypatch.setenv("PAYSTREAM_KAFKA_PARTITIONS", "0")
    with pytest.raises(ValidationError):
        KafkaSettings()


def test_a_file_that_is_not_a_mapping_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "paystream.yaml"
    path.write_text("- just\n- a list\n")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    with pytest.raises(ValueError, match="mapping"):
        KafkaSettings()


@pytest.mark.parametrize("source", ["env", "file"])
def test_password_never_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    if source == "env":
        monkeypatch.setenv("PAYSTREAM_KAFKA_SASL_PASSWORD", PASSWORD)
    else:
        path = tmp_path / "paystream.yaml"
        path.write_text(YAML_CONFIG)
        monkeypatch.setenv(CONFIG_ENV, str(path))
    kafka = KafkaSettings()
    assert kafka.sasl_password is not None
    for rendering in (repr(kafka), str(kafka), kafka.model_dump_json(), repr(kafka.model_dump())):
        assert PASSWORD not in rendering
    assert "**********" in kafka.model_dump_json()


@given(partitions=st.integers(min_value=1, max_value=10_000), port=st.integers(1, 65535))
def test_numbers_from_the_environment_round_trip(partitions: int, port: int) -> None:
    # hypothesis runs many examples per test call, so set and restore os.environ by hand.
    saved = dict(os.environ)
    try:
        _clear_paystream_env()
        os.environ["PAYSTREAM_KAFKA_PARTITIONS"] = str(partitions)
        os.environ["PAYSTREAM_WEB_PORT"] = str(port)
        assert KafkaSettings().partitions == partitions
        assert WorkerSettings().web_port == port
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- connector settings: no production defaults, one line at start, secrets from files ----

CONNECTOR_SETTINGS = (PayTraceSettings, SalesforceSettings, SageProSettings)
SANDBOX_SECRETS = {
    sandbox.PAYTRACE_PASSWORD,
    sandbox.SALESFORCE_CLIENT_SECRET,
    sandbox.SAGEPRO_API_KEY,
}


@pytest.fixture
def no_connector_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("PAYSTREAM_PAYTRACE_", "PAYSTREAM_SALESFORCE_", "PAYSTREAM_SAGEPRO_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv(SECRETS_DIR_ENV, raising=False)


@pytest.mark.usefixtures("no_connector_env")
def test_missing_settings_are_named_all_at_once() -> None:
    with pytest.raises(SettingsProblem) as caught:
        require_all(KafkaSettings, WorkerSettings, *CONNECTOR_SETTINGS)
    assert str(caught.value) == (
        "missing settings: PAYSTREAM_PAYTRACE_BASE_URL, PAYSTREAM_PAYTRACE_USERNAME, "
        "PAYSTREAM_PAYTRACE_PASSWORD, PAYSTREAM_SALESFORCE_LOGIN_URL, "
        "PAYSTREAM_SALESFORCE_CLIENT_ID, PAYSTREAM_SALESFORCE_CLIENT_SECRET, "
        "PAYSTREAM_SAGEPRO_BASE_URL, PAYSTREAM_SAGEPRO_API_KEY"
    )
    assert "\n" not in str(caught.value)


@pytest.mark.usefixtures("no_connector_env")
def test_invalid_settings_join_the_line_without_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in sandbox.worker_env({"paytrace": "http://p", "sagepro": "http://s"}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAYSTREAM_PAYTRACE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsProblem) as caught:
        require_all(*CONNECTOR_SETTINGS)
    assert caught.value.missing == ["PAYSTREAM_SALESFORCE_LOGIN_URL"]
    assert "PAYSTREAM_PAYTRACE_TIMEZONE" in str(caught.value)
    assert not any(secret in str(caught.value) for secret in SANDBOX_SECRETS)


@pytest.mark.usefixtures("no_connector_env")
def test_the_worker_command_stops_with_one_line_and_exit_2() -> None:
    from typer.testing import CliRunner

    from stream.cli import app

    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paystream: missing settings: ")
    assert "PAYSTREAM_SAGEPRO_API_KEY" in lines[0]


@pytest.mark.usefixtures("no_connector_env")
def test_secrets_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As Docker/Kubernetes mount them: one file per setting, named like its variable.
    (tmp_path / "PAYSTREAM_SAGEPRO_API_KEY").write_text("key-from-a-file")
    (tmp_path / "PAYSTREAM_SAGEPRO_BASE_URL").write_text("https://books.example.com")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
    settings = SageProSettings()
    assert settings.api_key.get_secret_value() == "key-from-a-file"
    assert settings.base_url == "https://books.example.com"
    assert "key-from-a-file" not in repr(settings) and "key-from-a-file" not in str(settings)
    monkeypatch.setenv("PAYSTREAM_SAGEPRO_API_KEY", "key-from-env")
    assert SageProSettings().api_key.get_secret_value() == "key-from-env"  # environment wins


@pytest.mark.parametrize("cls", CONNECTOR_SETTINGS)
def test_no_production_default_is_a_sandbox_value(cls: type[FileBackedSettings]) -> None:
    for name, field in cls.model_fields.items():
        default = field.get_default()
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        text = str(default or "")
        assert not any(host in text for host in ("127.0.0.1", "localhost", "0.0.0.0", "::1")), name
        assert text not in SANDBOX_SECRETS | {sandbox.PAYTRACE_USERNAME}, name
        assert "demo" not in text.lower(), name
    required = {n for n, f in cls.model_fields.items() if f.is_required()}
    assert required >= {n for n in cls.model_fields if n.endswith(("url", "key", "password"))} - {
        "pubsub_url",  # Salesforce's one global endpoint, not a sandbox
        "private_key",  # only for the jwt_bearer flow (required_for)
    }


def test_sandbox_settings_come_from_one_module() -> None:
    settings = sandbox.sagepro_settings("http://127.0.0.1:1")
    assert settings.api_key.get_secret_value() == sandbox.SAGEPRO_API_KEY
    env = sandbox.worker_env({"paytrace": "http://127.0.0.1:2"})
    assert env["PAYSTREAM_PAYTRACE_PASSWORD"] == sandbox.PAYTRACE_PASSWORD
