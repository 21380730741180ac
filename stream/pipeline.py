"""Builds a worker's Faust app from the topology: topics, one flow per entry, /metrics."""

from __future__ import annotations

import logging

import faust
import faust.web
import mode

from agents import consumer_lag
from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.settings import SageProSettings
from connectors.salesforce.settings import SalesforceSettings
from stream import metrics
from stream.app import create_app
from stream.context import Connectors, PipelineContext
from stream.mapping import load_mapping
from stream.runtime import flow_metrics
from stream.runtime.base import Flow
from stream.settings import KafkaSettings, WorkerSettings
from stream.topic_names import TOPICS, topic_name
from stream.topology import REPLAY_SINKS, flows_for, group_id

log = logging.getLogger(__name__)


def build(worker: WorkerSettings, kafka: KafkaSettings, bootstrap: str) -> PipelineContext:
    # A worker of some lanes only is a consumer group of its own (stream/topology.py).
    app = create_app(worker, kafka, bootstrap, app_id=group_id(worker))
    ctx = PipelineContext(
        app=app,
        worker=worker,
        kafka=kafka,
        bootstrap=bootstrap,
        mapping=load_mapping(worker.mapping_file),
        connectors=Connectors(PayTraceSettings(), SalesforceSettings(), SageProSettings()),
        replay_sinks=REPLAY_SINKS,
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
    flows: list[Flow] = []
    # Its lanes' flows; PAYSTREAM_RISK_SCORING=false leaves the risk flows out.
    for spec in flows_for(worker):
        flow = spec.cls(ctx, spec)
        if not flow.enabled():
            continue
        flow.attach()
        flows.append(flow)
        reasons = (
            *flow.ignored_reasons,
            *(("replayed_for_other_sink",) if spec.replay_sink else ()),
        )
        flow_metrics.initialise(spec.name, reasons)
    consumer_lag.register(ctx)
    for topic in ctx.topics.values():
        metrics.STALLS_RECOVERED.labels(topic.get_topic_name())
    _close_on_stop(ctx, flows)
    _add_metrics_page(app)
    return ctx


def _close_on_stop(ctx: PipelineContext, flows: list[Flow]) -> None:
    class Closer(mode.Service):
        """Closes flows' clients and producers, then the shared connector clients."""

        async def on_stop(self) -> None:
            # Faust stops services added to the app before its agents: an agent still writing
            # would find its clients closed under it. Stopped first, an agent mid-batch is
            # cancelled and its records stay uncommitted (runtime/consuming.py).
            await ctx.app.agents.stop()
            for flow in flows:
                await flow.aclose()
            for close in ctx.closers:
                await close()
            await ctx.connectors.aclose()

    ctx.app.service(Closer)


def _add_metrics_page(app: faust.App) -> None:
    @app.page("/metrics")
    async def metrics_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return view.bytes(metrics.render(), content_type="text/plain")
