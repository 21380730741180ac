import pytest
from pydantic import ValidationError

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


URL = {"login_url": "https://test.salesforce.com"}


def _missing(**values: object) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        SalesforceSettings(**URL, **values)  # type: ignore[arg-type]
    return {str(e["loc"][0]) for e in caught.value.errors() if e["type"] == "missing"}


def test_missing_credentials_are_reported_per_flow() -> None:
    assert _missing(client_id="x") == {"client_secret"}
    assert _missing(client_id="x", auth_flow="jwt_bearer") == {"username", "private_key"}
    assert _missing(client_id="x", auth_flow="jwt_bearer", username="u@example.com") == {
        "private_key"
    }
    assert _missing() == {"client_id", "client_secret"}
    ok = SalesforceSettings(**URL, client_id="x", client_secret="s")  # type: ignore[arg-type]
    assert ok.credentials_problem() is None
    with pytest.raises(ValueError, match="client_secret"):
        SalesforceClient.from_settings(SalesforceSettings.model_construct(client_id="x", **URL))


def test_config_file_section(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "paystream.yaml"
    path.write_text(
        "salesforce:\n  client_id: from-file\n  login_url: https://login.salesforce.com\n"
        "  private_key: pem\n"
        "  auth_flow: jwt_bearer\n  username: int@example.com\n"
    )
    monkeypatch.setenv("PAYSTREAM_CONFIG", str(path))
    settings = SalesforceSettings()
    assert settings.client_id == "from-file" and settings.auth_flow == "jwt_bearer"
