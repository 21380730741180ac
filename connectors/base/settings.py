"""The settings base every connector and the worker share, and the one-line start check.

Values come from, first to last: keyword arguments, the environment (``PAYSTREAM_*``), a
secrets directory (``PAYSTREAM_SECRETS_DIR``: one file per setting named like its variable,
as Docker and Kubernetes mount secrets), then the TOML/YAML file named by ``PAYSTREAM_CONFIG``.
Production classes give no default for where a system is or how to log in: a worker missing
one stops at start, naming every missing setting at once (``require_all``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError, model_validator
from pydantic_core import InitErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
)

CONFIG_ENV = "PAYSTREAM_CONFIG"
SECRETS_DIR_ENV = "PAYSTREAM_SECRETS_DIR"
# A named environment (dev, qa, prod...): the config file's ``environments.<name>`` sections
# overlay its base sections, and ``<secrets dir>/<name>/`` is read before the secrets dir.
ENVIRONMENT_ENV = "PAYSTREAM_ENV"
_ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}\Z")


def active_environment() -> str | None:
    """The environment ``PAYSTREAM_ENV`` names, or None; a malformed name is refused."""
    name = os.environ.get(ENVIRONMENT_ENV, "").strip()
    if not name:
        return None
    if not _ENVIRONMENT_NAME.match(name):
        raise ValueError(f"{ENVIRONMENT_ENV}={name!r}: lowercase letters, digits and '-'")
    return name


def environment_scoped(base: str) -> str:
    """``base`` outside any environment, ``base-<env>`` inside one: environments never share
    topics or a consumer group unless the config file says so."""
    env = active_environment()
    return f"{base}-{env}" if env else base


def _overlay(data: dict[str, Any], path: Path) -> dict[str, Any]:
    env = active_environment()
    environments = data.get("environments")
    if env is None:
        return {}
    if not isinstance(environments, dict) or env not in environments:
        known = ", ".join(sorted(environments)) if isinstance(environments, dict) else "none"
        raise ValueError(f"{path}: no environment {env!r} under environments (known: {known})")
    overlay = environments[env]
    if not isinstance(overlay, dict):
        raise ValueError(f"{path}: environments.{env} must be a mapping")
    return overlay


def config_file_values(section: str | None = None) -> dict[str, Any]:
    """Values from the file named by ``PAYSTREAM_CONFIG`` (a section of it when given)."""
    name = os.environ.get(CONFIG_ENV)
    if not name:
        return {}
    path = Path(name)
    text = path.read_text()
    if path.suffix == ".toml":
        import tomllib

        data: Any = tomllib.loads(text)
    else:
        data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    overlay = _overlay(data, path)
    if section is None:
        merged = {**data, **overlay}
        return {k: v for k, v in merged.items() if not isinstance(v, dict)}
    value = data.get(section, {})
    base = value if isinstance(value, dict) else {}
    extra = overlay.get(section, {})
    return {**base, **(extra if isinstance(extra, dict) else {})}


class _FileSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], section: str | None) -> None:
        super().__init__(settings_cls)
        self._values = config_file_values(section)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._values.items() if k in self.settings_cls.model_fields}


class FileBackedSettings(BaseSettings):
    """Base for every settings class: environment, secrets directory, config file section."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        section = settings_cls.model_config.get("title")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        secrets_dir = os.environ.get(SECRETS_DIR_ENV)
        if secrets_dir:
            # Read per instance, so a worker and a test can point it anywhere.
            env = active_environment()
            if env and (Path(secrets_dir) / env).is_dir():
                scoped = Path(secrets_dir) / env  # this environment's credentials first
                sources.append(SecretsSettingsSource(settings_cls, secrets_dir=scoped))
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir))
        sources.append(_FileSource(settings_cls, section))
        return tuple(sources)

    @classmethod
    def required_for(cls, values: Mapping[str, Any]) -> list[str]:
        """Fields that ``values`` (the merged input) makes required besides the always
        required ones, e.g. the secret of the chosen login flow. None by default."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _all_missing_at_once(cls, data: Any, handler: Any) -> Any:
        # Conditional requirements join the field errors, so one start reports all of them.
        values = data if isinstance(data, Mapping) else {}
        extra: list[InitErrorDetails] = [
            {"type": "missing", "loc": (name,), "input": None}
            for name in cls.required_for(values)
            if values.get(name) in (None, "")
        ]
        try:
            model = handler(data)
        except ValidationError as exc:
            raise ValidationError.from_exception_data(exc.title, [*_details(exc), *extra]) from None
        if extra:
            raise ValidationError.from_exception_data(cls.__name__, extra)
        return model

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def _details(exc: ValidationError) -> list[InitErrorDetails]:
    out: list[InitErrorDetails] = []
    for error in exc.errors():
        detail: InitErrorDetails = {"type": error["type"], "loc": error["loc"], "input": None}
        if "ctx" in error:
            detail["ctx"] = error["ctx"]
        out.append(detail)
    return out


class SettingsProblem(ValueError):
    """What stops a worker at start, as one line."""

    def __init__(self, missing: list[str], invalid: list[str]) -> None:
        parts = []
        if missing:
            parts.append(f"missing settings: {', '.join(missing)}")
        if invalid:
            parts.append(f"invalid settings: {'; '.join(invalid)}")
        super().__init__("; ".join(parts))
        self.missing = missing
        self.invalid = invalid


def require_all(*classes: type[FileBackedSettings]) -> list[FileBackedSettings]:
    """Build every class; raise ONE ``SettingsProblem`` naming every missing or invalid
    setting (by its environment variable) across all of them."""
    built: list[FileBackedSettings] = []
    missing: list[str] = []
    invalid: list[str] = []
    for cls in classes:
        try:
            built.append(cls())
        except ValidationError as exc:
            for error in exc.errors():
                name = cls.variable(str(error["loc"][0])) if error["loc"] else cls.__name__
                if error["type"] == "missing":
                    missing.append(name)
                else:
                    invalid.append(f"{name} ({error['msg']})")
    if missing or invalid:
        raise SettingsProblem(missing, invalid)
    return built
