"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the files parse,
every mounted path exists in the repo and lands where the configs look for it, every command
is a real `paystream` command, every PAYSTREAM_* variable is a real setting, and the ports and
host names the services use to find each other agree."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.settings import SageProSettings
from connectors.salesforce.settings import SalesforceSettings
from stream.cli import app as cli_app
from stream.settings import KafkaSettings, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
EMULATORS = {"paytrace-emulator", "salesforce-emulator", "sagepro-emulator"}
SETTINGS = (KafkaSettings, WorkerSettings, PayTraceSettings, SalesforceSettings, SageProSettings)
_DEFAULTED = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def resolve(value: Any) -> str:
    """A value as compose runs it with no .env: ``${VAR:-default}`` -> default."""
    return _DEFAULTED.sub(lambda m: m.group(2) or "", str(value))


def env(service: str) -> dict[str, str]:
    return {k: resolve(v) for k, v in SERVICES[service].get("environment", {}).items()}


def setting_names() -> set[str]:
    names = set()
    for settings in SETTINGS:
        prefix = settings.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in settings.model_fields}
    return names


def parse_cli(args: list[str]) -> Any:
    """Resolve ``paystream <args>`` to its command and parse its options, running nothing."""
    command: Any = typer.main.get_command(cli_app)
    name, ctx = "paystream", None
    while hasattr(command, "get_command"):  # a group: the first argument names a subcommand
        ctx = command.context_class(command, info_name=name, parent=ctx)
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"paystream has no command {args[0]!r}"
        name, command, args = args[0], sub, args[1:]
    return command.make_context(name, list(args), parent=ctx)


def paystream_services() -> list[str]:
    return [name for name, s in SERVICES.items() if "build" in s]


def test_the_stack_has_every_part_the_issue_names() -> None:
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert set(paystream_services()) == {"worker", *EMULATORS}
    assert SERVICES["prometheus"]["image"].startswith("prom/prometheus:")
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana:")
    assert int(resolve(SERVICES["worker"]["deploy"]["replicas"])) >= 1


def test_emulators_are_a_sandbox_profile_and_nothing_else_is() -> None:
    for name, service in SERVICES.items():
        profiles = service.get("profiles", [])
        assert profiles == (["sandbox"] if name in EMULATORS else []), name


def test_images_are_built_from_the_repo_dockerfile() -> None:
    for name in paystream_services():
        build = SERVICES[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name


@pytest.mark.parametrize("service", ["worker", *sorted(EMULATORS)])
def test_service_commands_are_real_paystream_commands(service: str) -> None:
    ctx = parse_cli(SERVICES[service]["command"])
    expected = "worker" if service == "worker" else "emulate"
    assert ctx.info_name == expected
    if expected == "emulate":
        assert ctx.params["system"].value == service.removesuffix("-emulator")
        assert ctx.params["host"] == "0.0.0.0"  # reachable from the workers' containers
        published = {p.split(":")[1] for p in SERVICES[service]["ports"]}
        assert published == {str(ctx.params["port"])}


def test_a_misspelt_command_would_be_caught() -> None:
    with pytest.raises(AssertionError, match="no command 'wroker'"):
        parse_cli(["wroker"])
    for wrong in (["emulate", "paytrace", "--prot", "8081"], ["emulate", "paypal"]):
        try:
            parse_cli(wrong)
        except Exception as exc:  # typer's bundled click: UsageError and its subclasses
            assert "UsageError" in {kind.__name__ for kind in type(exc).__mro__}, exc
        else:
            pytest.fail(f"paystream {' '.join(wrong)} parsed")


def test_every_paystream_variable_is_a_real_setting() -> None:
    known = setting_names()
    for name in paystream_services():
        unknown = {k for k in env(name) if k.startswith("PAYSTREAM_")} - known
        assert not unknown, f"{name}: {unknown}"
    for key in env("worker"):
        assert key.startswith("PAYSTREAM_"), key


def test_workers_find_kafka_and_the_emulators_by_service_name() -> None:
    worker = env("worker")
    assert worker["PAYSTREAM_KAFKA_BOOTSTRAP"] in env("kafka")["KAFKA_ADVERTISED_LISTENERS"]
    assert SERVICES["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for system in ("paytrace", "salesforce", "sagepro"):
        key = "LOGIN_URL" if system == "salesforce" else "BASE_URL"
        url = urlsplit(worker[f"PAYSTREAM_{system.upper()}_{key}"])
        emulator = SERVICES[f"{system}-emulator"]
        assert url.hostname == f"{system}-emulator"
        assert str(url.port) == emulator["command"][emulator["command"].index("--port") + 1]


def test_kafka_listeners_agree() -> None:
    kafka = env("kafka")
    listeners = dict(item.split(":", 1) for item in kafka["KAFKA_LISTENERS"].split(","))
    protocols = dict(
        item.split(":") for item in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) == set(protocols)
    assert kafka["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    voter_port = kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"].rsplit(":", 1)[1]
    assert listeners["CONTROLLER"].endswith(f":{voter_port}")
    for advertised in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","):
        name, _ = advertised.split(":", 1)
        assert name in listeners and name != "CONTROLLER"


def test_every_bind_mount_exists_in_the_repo() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repo"
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"


def mounts(service: str) -> dict[str, Path]:
    """Container path -> repo path of a service's bind mounts."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[target] = ROOT / source
    return found


def in_container(service: str, path: str) -> Path | None:
    """The repo file a container path of ``service`` shows, if a bind mount provides it."""
    for target, source in mounts(service).items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source / path[len(target) :].lstrip("/")
    return None


def test_prometheus_loads_the_mounted_config_and_rules_and_scrapes_the_workers() -> None:
    command = SERVICES["prometheus"]["command"]
    config_path = next(c.split("=", 1)[1] for c in command if c.startswith("--config.file="))
    config_file = in_container("prometheus", config_path)
    assert config_file is not None and config_file.is_file()
    config = yaml.safe_load(config_file.read_text())
    rule_targets = [t for t in mounts("prometheus") if t.endswith(".yml") and t != config_path]
    for pattern in config["rule_files"]:
        assert any(fnmatch.fnmatch(t, pattern) for t in rule_targets), pattern
    (job,) = config["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["worker"]
    assert str(discovery["port"]) == env("worker")["PAYSTREAM_WEB_PORT"]
    assert job["job_name"] == "paystream"  # the dashboards' "Workers up" and WorkerDown alert


def test_grafana_provisioning_points_at_the_mounted_dashboards_and_prometheus() -> None:
    provisioning = in_container("grafana", "/etc/grafana/provisioning/dashboards")
    assert provisioning is not None
    (provider,) = yaml.safe_load((provisioning / "paystream.yml").read_text())["providers"]
    dashboards = in_container("grafana", provider["options"]["path"])
    assert dashboards is not None and sorted(p.name for p in dashboards.glob("*.json"))
    home = in_container("grafana", env("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home is not None and home.is_file()
    sources = in_container("grafana", "/etc/grafana/provisioning/datasources")
    assert sources is not None
    (datasource,) = yaml.safe_load((sources / "prometheus.yml").read_text())["datasources"]
    url = urlsplit(datasource["url"])
    assert url.hostname == "prometheus"
    assert f"{url.port}:{url.port}" in SERVICES["prometheus"]["ports"]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the final stage's and the build stage's lines."""
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_entrypoint_is_the_real_cli() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["paystream"] == "stream.cli:main"
    instructions = dict(dockerfile())
    assert yaml.safe_load(instructions["ENTRYPOINT"]) == ["paystream"]
    default = yaml.safe_load(instructions["CMD"])
    assert parse_cli(default).info_name == "worker"


def test_dockerfile_copies_every_package_and_dockerignore_keeps_them() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = set()
    for instruction, args in dockerfile():
        if instruction == "COPY" and not args.startswith("--from"):
            copied |= {Path(p).as_posix().rstrip("/") for p in args.split()[:-1]}
    assert set(packages) | {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    for path in copied:
        assert (ROOT / path).exists(), path
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in copied:
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path


def test_dockerfile_environment_is_real_settings_and_exposes_the_metrics_port() -> None:
    instructions = dockerfile()
    env_line = " ".join(args for name, args in instructions if name == "ENV")
    variables = dict(item.split("=", 1) for item in env_line.split())
    paystream = {k for k in variables if k.startswith("PAYSTREAM_")}
    assert paystream <= setting_names()
    exposed = {args for name, args in instructions if name == "EXPOSE"}
    assert exposed == {variables["PAYSTREAM_WEB_PORT"]}
    assert variables["PAYSTREAM_WEB_HOST"] == "0.0.0.0"
