"""The studio's web server: the page, and a small JSON API over the mapping file.

The server holds no edit state: the page sends the YAML text it is editing with each call, so
a reload starts again from the file, and nothing is written to disk (the page downloads the
diff; the file in git stays the source of truth). It binds to loopback, answers only requests
addressed to a loopback host (no DNS rebinding) and takes POSTs only as JSON, which a page of
another origin cannot send without a preflight this server never grants.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from pydantic import ValidationError

from stream.mapping import DEFAULT_MAPPING, Mapping
from stream.mapping_check import offline_problems
from stream.mapping_diff import describe_changes
from stream.mapping_version import mapping_version
from stream.settings import KafkaSettings
from stream.studio import diagram, mapping_view, preview, yaml_edit
from stream.studio.live import LiveMetrics
from stream.studio.records import latest
from stream.topology import FLOWS

STATIC = Path(__file__).with_name("static")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
ORG_CHECK_SECONDS = 60.0


@dataclass
class StudioConfig:
    mapping_file: Path = DEFAULT_MAPPING
    metrics_urls: list[str] = field(default_factory=list)
    environment: str | None = None
    timezone: str = "UTC"  # the merchant's, for PayTrace export times in previews


def parse_mapping(text: str) -> tuple[Mapping | None, list[str]]:
    """The mapping a text holds, or the problems that keep it from loading."""
    try:
        data = yaml.safe_load(text)
        return Mapping.model_validate(data), []
    except ValidationError as exc:
        return None, [
            f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors()
        ]
    except (yaml.YAMLError, ValueError) as exc:
        return None, [f"(file): {exc}"]


def _display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return path.name


class Studio:
    def __init__(self, config: StudioConfig) -> None:
        self.config = config
        self.original = config.mapping_file.read_text()
        loaded, problems = parse_mapping(self.original)
        if loaded is None:
            raise ValueError(f"{config.mapping_file}: invalid mapping: {'; '.join(problems)}")
        self.loaded = loaded
        self.name = _display_name(config.mapping_file)
        self.live = LiveMetrics(config.metrics_urls, FLOWS, KafkaSettings())

    def mapping_state(self, text: str) -> dict[str, Any]:
        mapping, errors = parse_mapping(text)
        state: dict[str, Any] = {
            "yaml": text,
            "errors": errors,
            "diff": yaml_edit.unified(self.original, text, self.name),
            "file": self.name,
            "original_version": mapping_version(self.loaded),
        }
        if mapping is not None:
            state["version"] = mapping_version(mapping)
            state["tables"] = mapping_view.tables(mapping)
            state["changes"] = describe_changes(self.loaded, mapping)
            state["errors"] = offline_problems(mapping)
        return state

    # -- handlers ------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def state(self, request: web.Request) -> web.Response:
        flows = [
            {
                "name": f.name,
                "kind": f.kind,
                "reads": list(f.reads),
                "writes": list(f.writes),
                "tables": list(f.tables),
            }
            for f in FLOWS
        ]
        return web.json_response(
            {
                **self.mapping_state(self.original),
                "samples": preview.samples(),
                "flows": flows,
                "svg": diagram.svg(FLOWS),
                "workers": self.config.metrics_urls,
                "environment": self.config.environment,
            }
        )

    async def records(self, request: web.Request) -> web.Response:
        kafka = KafkaSettings()
        logical = request.query.get("topic", "")
        if not kafka.bootstrap:
            return web.json_response({"records": None, "why": "no PAYSTREAM_KAFKA_BOOTSTRAP"})
        try:
            found = await asyncio.wait_for(
                latest(kafka, kafka.bootstrap, logical), ORG_CHECK_SECONDS
            )
        except KeyError as exc:
            return web.json_response({"records": None, "why": str(exc)}, status=404)
        except Exception as exc:  # a broker that does not answer: said on the page
            return web.json_response({"records": None, "why": f"{type(exc).__name__}: {exc}"})
        current = mapping_version(self.loaded)
        for record in found:
            record["current"] = record["mapping_version"] == current
        return web.json_response({"records": found, "current": current})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.json_response(await self.live.scrape())

    async def edit(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = str(body.get("yaml", self.original))
        try:
            for op in body.get("ops", []):
                text = yaml_edit.apply(text, op)
        except (yaml_edit.EditError, KeyError, TypeError) as exc:
            return web.json_response({"edit_error": str(exc)}, status=422)
        return web.json_response(self.mapping_state(text))

    async def run_preview(self, request: web.Request) -> web.Response:
        body = await request.json()
        mapping, errors = parse_mapping(str(body.get("yaml", self.original)))
        if mapping is None:
            return web.json_response({"ok": False, "stage": "mapping", "detail": errors})
        record = body.get("record")
        if isinstance(record, str):  # pasted text
            try:
                record = yaml.safe_load(record)
            except yaml.YAMLError as exc:
                return web.json_response(
                    {"ok": False, "stage": "studio", "reason": "not_json", "detail": str(exc)}
                )
        kind = str(body.get("kind", ""))
        return web.json_response(preview.preview(kind, record, mapping, self.config.timezone))

    async def check(self, request: web.Request) -> web.Response:
        body = await request.json()
        mapping, errors = parse_mapping(str(body.get("yaml", self.original)))
        if mapping is None:
            return web.json_response({"structural": errors, "org": None})
        from stream.environments import environment
        from stream.mapping_check import run_against_org

        org: list[str] | None
        try:
            with environment(self.config.environment):
                org = await asyncio.wait_for(run_against_org(mapping), ORG_CHECK_SECONDS)
            reached = True
        except Exception as exc:  # no settings, no org: said on the page, not a crash
            org, reached = [f"the org could not be checked: {type(exc).__name__}: {exc}"], False
        return web.json_response(
            {"structural": offline_problems(mapping), "org": org, "reached": reached}
        )


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    host = (request.host or "").rsplit(":", 1)[0]
    if host not in LOOPBACK_HOSTS:
        return web.Response(status=403, text="the studio answers on loopback only")
    if request.method == "POST" and request.content_type != "application/json":
        return web.Response(status=415, text="JSON only")
    response: web.StreamResponse = await handler(request)
    return response


def create_app(config: StudioConfig) -> web.Application:
    studio = Studio(config)
    app = web.Application(middlewares=[guard], client_max_size=1024 * 1024)
    app.router.add_get("/", studio.index)
    app.router.add_get("/api/state", studio.state)
    app.router.add_get("/api/metrics", studio.metrics)
    app.router.add_get("/api/records", studio.records)
    app.router.add_post("/api/mapping", studio.edit)
    app.router.add_post("/api/preview", studio.run_preview)
    app.router.add_post("/api/check", studio.check)
    app.router.add_static("/static/", STATIC)
    return app


async def serve(config: StudioConfig, host: str, port: int) -> None:
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    print(f"paystream studio: http://{host}:{bound}/ (Ctrl-C stops it)", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()


def default_config(
    mapping_file: Path | None, metrics_urls: list[str], environment: str | None
) -> StudioConfig:
    file = mapping_file or Path(os.environ.get("PAYSTREAM_MAPPING_FILE") or DEFAULT_MAPPING)
    zone = os.environ.get("PAYSTREAM_PAYTRACE_TIMEZONE", "UTC")
    return StudioConfig(file, metrics_urls, environment, zone)
