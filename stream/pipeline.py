"""Builds a worker's Faust app: topics, agents (per stream/topology.py), /metrics, poller."""

from __future__ import annotations

import logging

import faust
import faust.web
import mode

from agents import (
    charge_agent,
    charge_trigger,
    consumer_lag,
    deadletter_monitor,
    normalizer,
    sagepro_sink,
    salesforce_sink,
    settlement_reconciler,
)
from agents.context import Connectors, PipelineContext
from agents.paytrace_source import PayTracePoller
from agents.salesforce_cdc_source import SalesforceCdcSource
from agents.settlement_source import SettlementPoller
from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.settings import SageProSettings
from connectors.salesforce.settings import SalesforceSettings
from stream import metrics
from stream.app import create_app
from stream.mapping import load_mapping
from stream.settings import KafkaSettings, WorkerSettings
from stream.topology import TOPICS, topic_name

log = logging.getLogger(__name__)

AGENTS = {
    "payment_normalizer": normalizer.register,
    "salesforce_payment_sink": salesforce_sink.register,
    "sagepro_payment_sink": sagepro_sink.register,
    "deadletter_monitor": deadletter_monitor.register,
    "charge_trigger": charge_trigger.register,
    "charge_agent": charge_agent.register,
    "settlement_reconciler": settlement_reconciler.register,
}


def build(worker: WorkerSettings, kafka: KafkaSettings, bootstrap: str) -> PipelineContext:
    app = create_app(worker, kafka, bootstrap)
    ctx = PipelineContext(
        app=app,
        worker=worker,
        kafka=kafka,
        bootstrap=bootstrap,
        mapping=load_mapping(worker.mapping_file),
        connectors=Connectors(PayTraceSettings(), SalesforceSettings(), SageProSettings()),
    )
    for logical in TOPICS:
        ctx.topics[logical] = app.topic(
            topic_name(kafka, logical),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=kafka.partitions,
        )
    for register in AGENTS.values():
        register(ctx)
    _add_poller(ctx)
    _add_settlement_poller(ctx)
    if ctx.mapping.collection.triggers:
        _add_cdc_source(ctx)
    consumer_lag.register(ctx)
    _initialise_agent_metrics()
    for topic in ctx.topics.values():
        metrics.STALLS_RECOVERED.labels(topic.get_topic_name())
    _add_metrics_page(app)
    return ctx


def _add_poller(ctx: PipelineContext) -> None:
    poller = PayTracePoller(ctx)

    # on_leader: one worker of the group polls; another takes over if it leaves.
    @ctx.app.timer(ctx.worker.poll_interval_seconds, on_leader=True, name="paytrace_poller")
    async def poll() -> None:
        try:
            result = await poller.poll_once()
        except Exception:
            # The next tick retries from the same watermark; nothing is lost.
            metrics.EVENTS_FAILED.labels("paytrace_poller").inc()
            poller.update_lag()
            log.exception("PayTrace poll failed; retrying at the next interval")
            return
        if result.published:
            log.info("PayTrace poll: %d fetched, %d published", result.fetched, result.published)

    @ctx.app.timer(5.0, name="paytrace_watermark_lag")
    async def lag() -> None:
        poller.update_lag()

    class ClientCloser(mode.Service):
        """Closes HTTP clients and the poller's producer when the worker stops."""

        async def on_stop(self) -> None:
            await poller.aclose()
            for close in ctx.closers:
                await close()
            await ctx.connectors.aclose()

    ctx.app.service(ClientCloser)


def _add_settlement_poller(ctx: PipelineContext) -> None:
    poller = SettlementPoller(ctx)
    ctx.closers.append(poller.aclose)

    # Leader only, like the transaction poller; PayTrace settles once a day, so rarely.
    @ctx.app.timer(
        ctx.worker.settlement_poll_interval_seconds, on_leader=True, name="settlement_poller"
    )
    async def poll_settlements() -> None:
        try:
            published = await poller.poll_once()
        except Exception:
            # The next tick reads the same window again; nothing is lost.
            metrics.EVENTS_FAILED.labels("settlement_poller").inc()
            log.exception("PayTrace settlement poll failed; retrying at the next interval")
            return
        if published:
            log.info("PayTrace settlement batches published: %s", published)


def _initialise_agent_metrics() -> None:
    # Export 0 from the start so error rates and dashboards read 0, not "no data", while healthy.
    for agent in (*AGENTS, "paytrace_poller", "settlement_poller"):
        for counter in (metrics.EVENTS_IN, metrics.EVENTS_OUT, metrics.EVENTS_FAILED):
            counter.labels(agent)


def _add_cdc_source(ctx: PipelineContext) -> None:
    source = SalesforceCdcSource(ctx)
    ctx.closers.append(source.aclose)

    # One subscriber per group: the leader keeps a subscription per channel running; when
    # leadership moves, the new leader resumes from the stored replay ids.
    @ctx.app.timer(1.0, name="salesforce_cdc_source")
    async def follow() -> None:
        source.ensure_running(ctx.app.is_leader())


def _add_metrics_page(app: faust.App) -> None:
    @app.page("/metrics")
    async def metrics_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return view.bytes(metrics.render(), content_type="text/plain")
