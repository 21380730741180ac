"""Hostile records, one generator per class, each saying which outcomes would be right.

Outcomes (see accounting.py): ``dead_letter`` (parked with a reason), ``delivered`` (a usable
payment, in both systems, card data redacted), ``ignored`` (by design: a duplicate of a state
already seen, a Salesforce change that is no charge trigger, a record on the dead-letter topic
itself) and ``refused`` (a charge the charge agent declined to make, with a reason in its ledger).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.integration.hostile import shapes
from tests.integration.hostile.shapes import dumps

CARD_TEXTS = (
    "customer read card 4000 7700 0000 0307 cvv 739",
    "card 4111-1111-1111-1111 exp 12/30 cvv 739",
    "cc#5454545454545454",
    "amex 3782 822463 10005 csc 1234",
    "qty 3 4111 1111 1111 1111",
)
ODD_IDS = (".", "..", "../../x", "a/b", "%2e%2e", "x" * 300, "\u202e\u0000\x07\u200b", "é/..")
DEEP = 500

DEAD = frozenset({"dead_letter"})
DEAD_OR_DELIVERED = frozenset({"dead_letter", "delivered"})
NO_CHARGE = frozenset({"dead_letter", "refused"})
NOT_A_TRIGGER = frozenset({"dead_letter", "ignored"})


@dataclass
class Hostile:
    topic: str  # logical topic name
    cls: str
    key: bytes | None
    value: bytes | None
    accepts: frozenset[str]
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int = -1  # filled in when produced
    offset: int = -1


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _garbage(rng: random.Random, size: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(size))


def malformed(topic: str, template: bytes, rng: random.Random, n: int) -> Iterator[Hostile]:
    """Classes every topic gets: not JSON, truncated, nested deep, binary, 1 MB, huge key."""
    for i in range(n):
        key = str(shapes.VALID_ID_BASE + rng.randrange(200)).encode()  # the valid key space
        kind = i % 6
        if kind == 0:
            yield Hostile(topic, "not_json", key, b"{this is not json " + str(i).encode(), DEAD)
        elif kind == 1:
            cut = rng.randrange(1, len(template) - 1)
            yield Hostile(topic, "truncated_json", key, template[:cut], DEAD)
        elif kind == 2:
            yield Hostile(topic, "binary_garbage", key, _garbage(rng, rng.randrange(1, 400)), DEAD)
        elif kind == 3:
            yield Hostile(
                topic, "json_scalar", key, rng.choice([b"null", b"[]", b"7", b'"x"']), DEAD
            )
        elif kind == 4:
            yield Hostile(topic, "empty_value", key, rng.choice([b"", None]), DEAD)
        else:
            yield Hostile(topic, "pan_in_key", CARD_TEXTS[i % 5].encode(), b"{oops", DEAD)
    yield Hostile(topic, "nested_500", b"deep", _nested(DEEP), DEAD)
    yield Hostile(topic, "nested_900", b"deeper", _nested(900), DEAD)
    yield Hostile(topic, "value_1mb", b"big", b'{"x":"' + b"A" * 1_000_000 + b'"}', DEAD)
    yield Hostile(topic, "huge_key", b"k" * 100_000, b"{not json", DEAD)
    yield Hostile(
        topic, "pan_in_header", b"hdr", b"{nope", DEAD, [("note", CARD_TEXTS[0].encode())]
    )


def raw_topic(rng: random.Random) -> Iterator[Hostile]:
    value: Any
    raw = shapes.raw_value
    rec = shapes.paytrace_record
    template = dumps(raw(rec(1)))
    yield from malformed("paytrace_raw", template, rng, 300)
    wrong: tuple[dict[str, Any], ...] = (
        {"transaction_id": "abc"},
        {"amount": []},
        {"amount": "-5.00"},
        {"created": 5},
        {"transaction_type": "TELEPORT"},
        {"status": {"x": 1}},
        {"credit_card": "4111111111111111"},
        {"created": {"at": "yesterday"}},
    )
    for i, fields in enumerate(wrong * 8):
        value = raw(rec(shapes.VALID_ID_BASE + 500 + i, **fields))
        yield Hostile("paytrace_raw", "wrong_types", str(i).encode(), dumps(value), DEAD)
    outers: tuple[dict[str, Any], ...] = (
        {"record": []},
        {"fetched_at": 12},
        {"merchant_timezone": "../../etc/x"},
    )
    for outer in outers:
        # fetched_at 12 is a time to pydantic (12 s after the epoch): harmless metadata
        accepts = DEAD_OR_DELIVERED if "fetched_at" in outer else DEAD
        value = dumps(raw(rec(1), **outer))
        yield Hostile("paytrace_raw", "wrong_types", b"outer", value, accepts)
    yield Hostile(
        "paytrace_raw",
        "nested_field",
        b"n",
        dumps(raw(rec(3)))[:-2] + b',"z":' + _nested(DEEP) + b"}}",
        DEAD_OR_DELIVERED,
    )
    for odd in ODD_IDS:
        value = dumps(raw(rec(odd)))
        yield Hostile("paytrace_raw", "odd_id", odd.encode("utf-8", "surrogatepass"), value, DEAD)
    yield Hostile(
        "paytrace_raw", "long_id", b"9" * 300, dumps(raw(rec(int("9" * 300)))), DEAD_OR_DELIVERED
    )
    for original in ("abc", "", "../x", " "):
        value = raw(
            rec(
                shapes.VALID_ID_BASE + 700,
                transaction_type="REFUND",
                status="Refunded",
                original_transaction_id=original,
            )
        )
        yield Hostile("paytrace_raw", "refund_bad_original", b"r", dumps(value), DEAD)
    failing = raw(
        rec(
            shapes.VALID_ID_BASE + 701,
            transaction_type="REFUND",
            status="Refunded",
            original_transaction_id=shapes.FAILING_ORIGINAL,
        )
    )
    yield Hostile("paytrace_raw", "refund_original_5xx", b"r5", dumps(failing), DEAD)
    text_fields = (
        "description",
        "invoice_id",
        "customer_id",
        "approval_message",
        "status_message",
        "approval_code",
        "receipt_emailed_to",
        "customer_reference_id",
    )
    for i, name in enumerate(text_fields * 5):
        text = CARD_TEXTS[i % len(CARD_TEXTS)]
        tid = shapes.CARD_TEXT_ID_BASE + i
        value = raw(rec(tid, **{name: text}))
        yield Hostile(
            "paytrace_raw", "card_in_text", str(tid).encode(), dumps(value), DEAD_OR_DELIVERED
        )
    addr = raw(rec(shapes.CARD_TEXT_ID_BASE + 99, billing_address={"name": CARD_TEXTS[0]}))
    yield Hostile("paytrace_raw", "card_in_text", b"addr", dumps(addr), DEAD_OR_DELIVERED)
    for i in range(20):  # the poll overlap and replays do this: a state already seen
        tid = shapes.VALID_ID_BASE + i
        yield Hostile(
            "paytrace_raw",
            "duplicate",
            str(tid).encode(),
            dumps(raw(rec(tid))),
            frozenset({"ignored", "delivered"}),
        )


def payments_topic(rng: random.Random) -> Iterator[Hostile]:
    value: Any
    pay = shapes.payment
    yield from malformed("payments", dumps(pay("1")), rng, 120)
    for changes in (
        {"amount": "-1"},
        {"currency": "usd"},
        {"occurred_at": "2026-01-01T00:00:00"},
        {"type": "teleport"},
        {"transaction_id": ""},
        {"last_four": "4111111111111111"},
    ):
        yield Hostile("payments", "wrong_types", b"w", dumps(pay("800000001", **changes)), DEAD)
    refund = {"type": "refund", "status": "refunded", "source_status": "Refunded"}
    for i, original in enumerate(("abc", "", " ", "../x", "/api/payments", "..", ".", "1" * 300)):
        tid = f"80000010{i}"
        value = dumps(pay(tid, original_transaction_id=original, **refund))
        yield Hostile("payments", "refund_bad_original", tid.encode(), value, DEAD_OR_DELIVERED)
    value = dumps(pay("800000200", original_transaction_id=str(shapes.FAILING_ORIGINAL), **refund))
    yield Hostile("payments", "refund_original_5xx", b"800000200", value, DEAD)
    for odd in (*ODD_IDS, "y" * 70_000):
        yield Hostile("payments", "odd_id", b"odd", dumps(pay(odd)), DEAD_OR_DELIVERED)
    text_fields = ("description", "approval_code", "customer_vault_id", "source_status")
    for i, name in enumerate(text_fields * 3):
        tid = f"80000030{i:02d}"
        value = dumps(pay(tid, **{name: CARD_TEXTS[i % len(CARD_TEXTS)]}))
        yield Hostile("payments", "card_in_text", tid.encode(), value, DEAD_OR_DELIVERED)
    for i, target in enumerate(("erp_invoice_id", "erp_customer_id", "opportunity_id")):
        tid = f"800000400{i}"
        value = dumps(
            pay(
                tid,
                references={target: CARD_TEXTS[i]},
                custom_fields={"SalesRepID": CARD_TEXTS[i + 1]},
            )
        )
        yield Hostile("payments", "card_in_text", tid.encode(), value, DEAD_OR_DELIVERED)


def cdc_topic(rng: random.Random, prospecting: str, missing: str) -> Iterator[Hostile]:
    value: Any
    ch = shapes.change
    yield from malformed("salesforce_cdc", dumps(ch("Opportunity", [prospecting], {})), rng, 90)
    won = {"StageName": "Closed Won"}
    for i in range(30):  # the forged trigger: the Opportunity is still Prospecting
        value = ch("Opportunity", [prospecting], won, transaction_key=f"forged-{i}")
        yield Hostile(
            "salesforce_cdc", "forged_closed_won", prospecting.encode(), dumps(value), NO_CHARGE
        )
    yield Hostile(
        "salesforce_cdc",
        "forged_create_won",
        prospecting.encode(),
        dumps(ch("Opportunity", [prospecting], won, change_type="CREATE")),
        NO_CHARGE,
    )
    for rid in (missing, *ODD_IDS, CARD_TEXTS[0]):
        value = dumps(ch("Opportunity", [rid], won))
        yield Hostile(
            "salesforce_cdc",
            "closed_won_odd_record",
            rid.encode("utf-8", "surrogatepass"),
            value,
            NO_CHARGE,
        )
    for rid in (missing, "..", "a/b"):
        value = dumps(ch("Order", [rid], {"Status": "Draft"}, change_type="CREATE"))
        yield Hostile("salesforce_cdc", "order_create_odd_record", b"order", value, NO_CHARGE)
    for text in CARD_TEXTS:  # edits that are no trigger, carrying card numbers
        edit = ch(
            "Opportunity", [prospecting], {"Description": text, "Name": text}, transaction_key=text
        )
        yield Hostile(
            "salesforce_cdc", "card_in_text", prospecting.encode(), dumps(edit), NOT_A_TRIGGER
        )
    own = ch(
        "Opportunity",
        [prospecting],
        won,
        change_origin="com/salesforce/api/rest/62.0;client=paystream",
    )
    yield Hostile("salesforce_cdc", "own_client_change", b"own", dumps(own), NOT_A_TRIGGER)
    wrong: tuple[dict[str, Any], ...] = (
        {"record_ids": "006"},
        {"values": []},
        {"entity": None},
        {"source": "forged"},
    )
    for bad in wrong:
        value = dumps(ch("Opportunity", [prospecting], won, **bad))
        yield Hostile("salesforce_cdc", "wrong_types", b"w", value, DEAD)


def commands_topic(rng: random.Random, prospecting: str, missing: str) -> Iterator[Hostile]:
    value: Any
    cmd = shapes.command
    yield from malformed("charge_commands", dumps(cmd(prospecting)), rng, 90)
    for i in range(30):  # straight onto the commands topic: must not charge
        key = f"Opportunity:{prospecting}:closed_won" if i % 2 else f"forged-{i}"
        yield Hostile(
            "charge_commands",
            "forged_command",
            key.encode(),
            dumps(cmd(prospecting, key=key)),
            NO_CHARGE,
        )
    for rid in (missing, *ODD_IDS, CARD_TEXTS[0], "006" + "z" * 300):
        value = dumps(cmd(rid))
        yield Hostile(
            "charge_commands", "odd_record", rid.encode("utf-8", "surrogatepass"), value, NO_CHARGE
        )
    for rid in (missing, "..", "a/b"):
        value = dumps(
            cmd(rid, key=f"Order:{rid}:order_created", object="Order", trigger="order_created")
        )
        yield Hostile("charge_commands", "odd_order", b"order", value, NO_CHARGE)
    for text in CARD_TEXTS:
        value = dumps(cmd(missing, key=text, trigger=text))
        yield Hostile("charge_commands", "card_in_text", text.encode(), value, NO_CHARGE)
    for bad in ({"object": "Account"}, {"requested_at": "soon"}, {"record_id": 5}, {"key": None}):
        yield Hostile("charge_commands", "wrong_types", b"w", dumps(cmd(prospecting, **bad)), DEAD)


def settlements_topic(rng: random.Random) -> Iterator[Hostile]:
    yield from malformed("paytrace_settlements", dumps(shapes.settlement(1, ["1"])), rng, 12)
    for i, ids in enumerate((["..", "."], ["a/b", "../../x"], [CARD_TEXTS[0]], ["x" * 300])):
        value = dumps(shapes.settlement(990_000 + i, ids))
        yield Hostile(
            "paytrace_settlements",
            "odd_ids",
            str(990_000 + i).encode(),
            value,
            frozenset({"dead_letter", "processed"}),
        )


def deadletter_topic(rng: random.Random) -> Iterator[Hostile]:
    for i in range(12):  # the monitor only counts what lands here: ignored by design
        value = _garbage(rng, 50) if i % 2 else dumps({"reason": CARD_TEXTS[i % 5]})
        yield Hostile(
            "deadletter",
            "on_deadletter_topic",
            b"dl",
            value,
            NOT_A_TRIGGER,  # ignored (counted only), or parked by a stricter monitor
            [("paystream-reason", b"\xff\x00" if i % 3 else b"ok")],
        )


def newer_flow_topics(rng: random.Random) -> Iterator[Hostile]:
    """The topics of the dispute and risk flows get every malformed class too, and a dispute
    with card text in its reason for a payment paystream has never seen (parked, redacted)."""
    dispute = {
        "case_id": "CB-1",
        "transaction_id": "1",
        "amount": "10.00",
        "currency": "USD",
        "reason_code": "10.4",
        "reason": "fraud",
        "stage": "chargeback",
        "received_at": "2026-11-28T00:00:00Z",
        "source": "hostile",
    }
    yield from malformed("disputes", dumps(dispute), rng, 24)
    yield from malformed("payments_by_customer", dumps(shapes.payment("1")), rng, 12)
    yield from malformed("payments_risk", b'{"transaction_id": "1", "score": 0.5}', rng, 12)
    for i, text in enumerate(CARD_TEXTS):
        unknown = {**dispute, "case_id": f"CB-X{i}", "transaction_id": str(990_000 + i)}
        unknown["reason"] = text
        yield Hostile(
            "disputes", "card_in_text", unknown["transaction_id"].encode(), dumps(unknown), DEAD
        )
