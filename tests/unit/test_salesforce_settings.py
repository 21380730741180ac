import pytest

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.settings import SalesforceSettings


def test_env_prefix_and_secret_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_SALESFORCE_CLIENT_ID", "abc")
    monkeypatch.setenv("PAYSTREAM_SALESFORCE_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("PAYSTREAM_SALESFORCE_LOGIN_URL", "https://test.salesforce.com")
    settings = SalesforceSettings()
    assert settings.client_id == "abc" and settings.api_version == "v62.0"
    assert settings.login_url == "https://test.salesforce.com"
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings.model_dump())
    assert settings.credentials_problem() is None


def test_missing_credentials_are_reported_per_flow() -> None:
    assert "client_secret" in (SalesforceSettings(client_id="x").credentials_problem() or "")
    jwt = SalesforceSettings(client_id="x", auth_flow="jwt_bearer")
    assert "username" in (jwt.credentials_problem() or "")
    jwt = SalesforceSettings(client_id="x", auth_flow="jwt_bearer", username="u@example.com")
    assert "private_key" in (jwt.credentials_problem() or "")
    with pytest.raises(ValueError, match="client_secret"):
        SalesforceClient.from_settings(SalesforceSettings(client_id="x"))


def test_config_file_section(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "paystream.yaml"
    path.write_text(
        "salesforce:\n  client_id: from-file\n"
        "  auth_flow: jwt_bearer\n  username: int@example.com\n"
    )
    monkeypatch.setenv("PAYSTREAM_CONFIG", str(path))
    settings = SalesforceSettings()
    assert settings.client_id == "from-file" and settings.auth_flow == "jwt_bearer"
