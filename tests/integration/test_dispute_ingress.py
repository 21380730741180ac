"""`paystream ingress` on the real broker: a signed notification is on the disputes topic after
its 202; everything else is refused with its status and leaves no record; a stopped broker is a
503 the sender retries."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from schemas.dispute import Dispute
from stream.broker import EmbeddedBroker
from stream.settings import KafkaSettings
from stream.topic_names import topic_name
from stream.topics import TopicSpec, delete_topics, ensure_topics, read_all
from tests.integration.dispute_helpers import SECRETS, IngressProcess, notification, signed

pytestmark = pytest.mark.integration


async def _started(bootstrap: str, tmp_path: Path) -> tuple[IngressProcess, KafkaSettings]:
    prefix = "i" + uuid.uuid4().hex[:8]
    kafka = KafkaSettings(bootstrap=bootstrap, topic_prefix=prefix, partitions=2)
    await ensure_topics(kafka, bootstrap, [TopicSpec(topic_name(kafka, "disputes"))])
    ingress = IngressProcess(bootstrap, prefix, tmp_path / "ingress.log").start()
    await ingress.ready()
    return ingress, kafka


async def test_signed_accepted_everything_else_refused(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    ingress, kafka = await _started(kafka_bootstrap, tmp_path)
    topic = topic_name(kafka, "disputes")
    try:
        async with httpx.AsyncClient(base_url=ingress.url, timeout=30) as http:

            async def post(raw: bytes, headers: dict[str, str]) -> httpx.Response:
                return await http.post("/v1/disputes", content=raw, headers=headers)

            # signed with the current secret, and with the previous one (rotation): both in
            good = notification(reason="card 4111 1111 1111 1111 disputed")
            raw, headers = signed(good)
            accepted = await post(raw, headers)
            assert accepted.status_code == 202, accepted.text
            assert accepted.json() == {"status": "accepted", "id": "CB-1001:chargeback"}
            rotated = notification(case_id="CB-1002", transaction_id="1000002")
            new_raw, new_headers = signed(rotated, secret=SECRETS["paytrace"][1])
            assert (await post(new_raw, new_headers)).status_code == 202

            refusals: list[tuple[str, httpx.Response, int, str]] = []

            async def expect(
                name: str, raw: bytes, headers: dict[str, str], status: int, code: str
            ) -> None:
                refusals.append((name, await post(raw, headers), status, code))

            unsigned = {"Content-Type": "application/json", "X-Paystream-Source": "paytrace"}
            await expect("unsigned", raw, unsigned, 401, "unsigned")
            forged_raw, forged = signed(notification(amount="1.00"), secret="x" * 20)
            await expect("forged", forged_raw, forged, 401, "bad_signature")
            tampered = raw.replace(b"110.00", b"11.00")
            await expect("tampered", tampered, headers, 401, "bad_signature")
            old_raw, old = signed(notification(case_id="CB-OLD"), timestamp=int(time.time()) - 301)
            await expect("stale", old_raw, old, 401, "stale")
            stranger_raw, stranger = signed(notification(), source="paytrace")
            stranger["X-Paystream-Source"] = "someone"
            await expect("unknown source", stranger_raw, stranger, 401, "unknown_source")
            await expect("replayed", raw, headers, 409, "replayed")
            big_raw, big = signed(notification(reason="x" * 5000))
            await expect("oversized", big_raw, big, 413, "too_large")
            bad_raw, bad = signed(b'{"case_id": "CB-9", ')
            await expect("malformed", bad_raw, bad, 400, "malformed")
            list_raw, as_list = signed(b"[1, 2]")
            await expect("not an object", list_raw, as_list, 400, "malformed")
            wrong_raw, wrong = signed(notification(case_id="CB-9", amount="-5", stage="lost-ish"))
            await expect("schema", wrong_raw, wrong, 422, "schema")
            card_raw, card = signed(notification(case_id="4111111111111111"))
            await expect("card number as id", card_raw, card, 422, "card_number_in_id")
            for name, response, status, code in refusals:
                assert (response.status_code, response.json()["code"]) == (status, code), name
                assert "secret" not in response.text, name

            # a flood from one source is slowed with 429 + Retry-After; others are not
            statuses = []
            for n in range(30):
                flood_raw, flood = signed(notification(case_id=f"F-{n}"), source="flood")
                flooded = await post(flood_raw, flood)
                statuses.append(flooded.status_code)
                if flooded.status_code == 429:
                    assert int(flooded.headers["Retry-After"]) >= 1
            assert 429 in statuses and statuses[0] == 202
            assert all(s in (202, 429) for s in statuses)
            after_raw, after = signed(notification(case_id="CB-1003"))
            assert (await post(after_raw, after)).status_code == 202
        accepted_count = 3 + statuses.count(202)

        records = await read_all(kafka, kafka_bootstrap, topic, idle_ms=1000)
        assert len(records) == accepted_count
        by_case = {Dispute.model_validate_json(v or b"").case_id: (k, v, h) for k, v, h in records}
        assert set(by_case) >= {"CB-1001", "CB-1002", "CB-1003"}
        assert not {"CB-OLD", "CB-9"} & set(by_case)
        key, value, headers = by_case["CB-1001"]
        assert key == b"1000001" and headers["paystream-dispute-source"] == b"push:paytrace"
        assert b"4111 1111 1111 1111" not in (value or b"") and b"1111" in (value or b"")
        log = ingress.log()
        for secret in (s for secrets in SECRETS.values() for s in secrets):
            assert secret not in log
        assert "v1=" not in log  # no signature either
    finally:
        ingress.stop()
        await delete_topics(kafka, kafka_bootstrap, [topic])


async def test_broker_stopped_is_a_503_the_sender_retries(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "broker")
    await broker.start()
    ingress: IngressProcess | None = None
    try:
        ingress, _ = await _started(broker.bootstrap, tmp_path)
        async with httpx.AsyncClient(base_url=ingress.url, timeout=30) as http:
            raw, headers = signed(notification())
            assert (
                await http.post("/v1/disputes", content=raw, headers=headers)
            ).status_code == 202
            broker.stop()
            raw, headers = signed(notification(case_id="CB-DOWN"))
            down = await http.post("/v1/disputes", content=raw, headers=headers)
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"] == "5"
            assert json.loads(down.text)["code"] == "broker_unavailable"
    finally:
        if ingress is not None:
            ingress.stop()
        broker.stop()
