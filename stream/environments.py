"""Named environments (dev, qa, prod...): which settings a worker would run with in each.

An environment is ``PAYSTREAM_ENV``: the config file's ``environments.<name>`` sections overlay
its base sections (endpoints, credentials, topic prefix, consumer group), ``<secrets dir>/<name>``
holds its secrets, and without a configured prefix or app id it gets ``paystream-<name>`` for
both (connectors/base/settings.py). ``paystream config show [--env E]`` prints the result with
every secret masked (``SecretStr``), and what would be wrong with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import SecretStr, ValidationError

from agents.dispute_salesforce import DisputeSettings
from connectors.base.settings import (
    CONFIG_ENV,
    ENVIRONMENT_ENV,
    FileBackedSettings,
    active_environment,
    config_file_values,
)
from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.settings import SageProSettings
from connectors.salesforce.settings import SalesforceSettings
from stream import sandbox
from stream.ingress import IngressSettings
from stream.settings import KafkaSettings, WorkerSettings

SECTIONS: tuple[type[FileBackedSettings], ...] = (
    KafkaSettings,
    WorkerSettings,
    PayTraceSettings,
    SalesforceSettings,
    SageProSettings,
    IngressSettings,
    DisputeSettings,
)
SANDBOX_SECRETS = frozenset(sandbox.CREDENTIALS_ENV.values())
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


@contextmanager
def environment(name: str | None) -> Iterator[None]:
    """Settings built inside read environment ``name`` (None: as the process has it)."""
    if name is None:
        yield
        return
    before = os.environ.get(ENVIRONMENT_ENV)
    os.environ[ENVIRONMENT_ENV] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENVIRONMENT_ENV, None)
        else:
            os.environ[ENVIRONMENT_ENV] = before


@dataclass
class Section:
    title: str
    values: dict[str, Any] = field(default_factory=dict)  # secrets masked
    missing: list[str] = field(default_factory=list)  # environment variable names
    invalid: list[str] = field(default_factory=list)


@dataclass
class Effective:
    environment: str | None
    sections: list[Section]
    problems: list[str]


def _masked(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, dict):  # the ingress's secrets per source
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _section(cls: type[FileBackedSettings]) -> tuple[Section, FileBackedSettings | None]:
    title = str(cls.model_config.get("title"))
    try:
        built = cls()
    except ValidationError as exc:
        section = Section(title)
        for error in exc.errors():
            name = cls.variable(str(error["loc"][0])) if error["loc"] else cls.__name__
            if error["type"] == "missing":
                section.missing.append(name)
            else:
                section.invalid.append(f"{name}: {error['msg']}")
        return section, None
    values = {name: _masked(getattr(built, name)) for name in type(built).model_fields}
    return Section(title, values), built


def _production(name: str | None) -> bool:
    return bool(name) and str(name).startswith("prod")


def sandbox_problems(name: str | None, built: list[FileBackedSettings]) -> list[str]:
    """A production environment talking to the emulators' endpoints or credentials."""
    if not _production(name):
        return []
    problems = []
    for settings in built:
        for key in type(settings).model_fields:
            value = getattr(settings, key)
            where = type(settings).variable(key)
            if isinstance(value, SecretStr) and value.get_secret_value() in SANDBOX_SECRETS:
                problems.append(f"{where}: the sandbox's credential in environment {name}")
            elif key.endswith("_url") and isinstance(value, str):
                if urlparse(value).hostname in LOOPBACK:
                    problems.append(f"{where}: {value} is this machine, in environment {name}")
    return problems


def shared_targets() -> list[str]:
    """Environments of the config file that would share topics or a consumer group."""
    if not os.environ.get(CONFIG_ENV):
        return []
    with environment(None):
        names = sorted(_file_environments())
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for name in names:
        with environment(name):
            targets = (
                ("topic prefix", KafkaSettings().topic_prefix),
                ("consumer group (app_id)", WorkerSettings().app_id),
            )
        for what, value in targets:
            other = seen.setdefault((what, value), name)
            if other != name:
                problems.append(f"environments {other} and {name} share the {what} {value!r}")
    return problems


def _file_environments() -> list[str]:
    # The raw file: the environments section is a mapping (so not in the top-level values).
    import yaml

    path = os.environ[CONFIG_ENV]
    text = Path(path).read_text()
    if path.endswith(".toml"):
        import tomllib

        data: Any = tomllib.loads(text)
    else:
        data = yaml.safe_load(text) or {}
    environments = data.get("environments") if isinstance(data, dict) else None
    return list(environments) if isinstance(environments, dict) else []


def effective(name: str | None = None) -> Effective:
    """Every settings section as ``name`` (or the current environment) would run with."""
    with environment(name):
        env = active_environment()
        config_file_values()  # an unknown environment fails here, once, with the known ones
        pairs = [_section(cls) for cls in SECTIONS]
    built = [b for _, b in pairs if b is not None]
    problems = sandbox_problems(env, built) + shared_targets()
    return Effective(env, [s for s, _ in pairs], problems)


def render(result: Effective) -> list[str]:
    lines = [f"environment: {result.environment or '(none: PAYSTREAM_ENV unset)'}"]
    for section in result.sections:
        lines.append(f"[{section.title}]")
        lines += [f"  {k} = {v}" for k, v in section.values.items()]
        lines += [f"  missing: {name}" for name in section.missing]
        lines += [f"  invalid: {text}" for text in section.invalid]
    lines += [f"problem: {p}" for p in result.problems]
    return lines
