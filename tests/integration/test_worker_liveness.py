"""A worker that cannot join its group says so on /health and exits non-zero to be restarted.

The counter worker (apps/counter_worker.py, built on ``stream.app.create_app``) runs with an
injected fault that reproduces what noida-db 0.2.3 was measured doing (docs/measured-quirks.md):
once a marker file exists, every SyncGroup answer is an empty assignment. Without our fix
aiokafka's coordination task died on it and the worker idled forever looking healthy; with it
the worker keeps trying to join, reports 503, and after the liveness timeout stops with exit 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from stream.broker import die_with_parent, free_port
from stream.settings import KafkaSettings
from stream.topics import TopicSpec, delete_topics, ensure_topics, faust_internal_topics
from tests.integration.harness import wait_for

pytestmark = pytest.mark.integration

APPS = Path(__file__).parent / "apps"
LIVENESS_TIMEOUT = 20  # seconds out of the group before the worker gives up
# The counter worker, with SyncGroup answering b"" (noida's answer to a leader it left out of
# the member list) once FAULT_FILE exists. Patched below our fix, as the broker's answer is.
# Each worker gets its own FAULT_FILE.
FAULTY_WORKER = f"""
import os, sys
from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance
sync = CoordinatorGroupRebalance._send_sync_group_request
async def faulty_sync(self, request):
    answer = await sync(self, request)
    return b"" if os.path.exists(os.environ["FAULT_FILE"]) else answer
CoordinatorGroupRebalance._send_sync_group_request = faulty_sync
sys.path.insert(0, {str(APPS)!r})
import counter_worker
counter_worker.main()
"""


async def _health(port: int) -> tuple[int, dict[str, Any]] | None:
    try:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/health", timeout=5)
    except httpx.HTTPError:
        return None
    return response.status_code, response.json()


def _start_worker(
    tmp_path: Path, name: str, bootstrap: str, app_id: str, fault: Path
) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_")}
    env.update(
        PAYSTREAM_KAFKA_BOOTSTRAP=bootstrap,
        PAYSTREAM_APP_ID=app_id,
        PAYSTREAM_WEB_PORT=str(port),
        PAYSTREAM_DATA_DIR=str(tmp_path / name),
        PAYSTREAM_LIVENESS_TIMEOUT_SECONDS=str(LIVENESS_TIMEOUT),
        COUNTER_INPUT_TOPIC=f"{app_id}-in",
        COUNTER_OUTPUT_TOPIC=f"{app_id}-out",
        COUNTER_SESSION_TIMEOUT="6",
        FAULT_FILE=str(fault),
    )
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", FAULTY_WORKER],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    return proc, port, log_path


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # a clean stop leaves the group (noida-db never expires a member)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_a_worker_that_cannot_join_reports_it_then_exits_non_zero(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    app_id = f"live-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    specs = [
        TopicSpec(f"{app_id}-in"),
        TopicSpec(f"{app_id}-out"),
        *faust_internal_topics(app_id, ["counts"]),
    ]
    await ensure_topics(kafka, kafka_bootstrap, specs)
    fault = tmp_path / "fault"
    proc, port, log_path = _start_worker(tmp_path, "faulty", kafka_bootstrap, app_id, fault)
    other: subprocess.Popen[bytes] | None = None

    def logs() -> str:
        return log_path.read_text(errors="replace")[-4000:]

    try:

        async def healthy() -> bool:
            assert proc.poll() is None, f"worker exited early:\n{logs()}"
            answer = await _health(port)
            return answer is not None and answer[0] == 200

        await wait_for(healthy, "/health 200 once the worker has joined", 120)
        assert (await _health(port)) == (200, {"status": "ok", "reasons": []})

        # The fault, then a rebalance: a second worker (without the fault) joins the group.
        fault.touch()
        other, _, _ = _start_worker(
            tmp_path, "other", kafka_bootstrap, app_id, tmp_path / "no-fault"
        )

        async def reports_it() -> bool:
            answer = await _health(port)
            if answer is None:
                return proc.poll() is not None  # already gone: the exit is checked below
            status, body = answer
            return status == 503 and any("not in its group" in r for r in body["reasons"])

        await wait_for(reports_it, "/health 503: not in its group", 120)

        async def exited() -> bool:
            return proc.poll() is not None

        # The timeout, then a clean stop, on a loaded machine.
        await wait_for(exited, "the worker to give up and exit", LIVENESS_TIMEOUT + 120)
        assert proc.poll() == 1, f"expected exit 1, got {proc.poll()}:\n{logs()}"
        text = log_path.read_text(errors="replace")
        assert "stopping to be restarted: consumer not in its group for over" in text
        assert "unpack requires a buffer" not in text  # the join failure no longer kills it
        assert "cannot decode" in text
    finally:
        _stop(proc)
        if other is not None:
            _stop(other)
        try:
            await delete_topics(kafka, kafka_bootstrap, [spec.name for spec in specs])
        except Exception:  # best effort: the broker's data dir is per test session
            pass
