"""Hypothesis-generated records: each topic's record shape with any field replaced by hostile
JSON, drawn deterministically (derandomized) through a ``@given`` that only collects."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.integration.hostile import shapes
from tests.integration.hostile.records import CARD_TEXTS, ODD_IDS, Hostile
from tests.integration.hostile.shapes import dumps

HOSTILE_TEXT = st.one_of(
    st.sampled_from([*CARD_TEXTS, *ODD_IDS, "", " ", "null", "-1", "1e309", "\u0000"]),
    st.text(max_size=40),
    st.text(alphabet="0123456789 -", min_size=13, max_size=24),  # digit runs, some Luhn-valid
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=10,
)

# What a record of this topic can end as, whatever hypothesis made of it.
ACCEPTS = {
    "paytrace_raw": frozenset({"dead_letter", "delivered", "ignored"}),
    "payments": frozenset({"dead_letter", "delivered"}),
    "salesforce_cdc": frozenset({"dead_letter", "ignored", "refused"}),
    "charge_commands": frozenset({"dead_letter", "refused"}),
}


def mutated(template: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """The template with each field kept, dropped or replaced; nested dicts likewise."""
    fields = {}
    for name, value in template.items():
        keep = st.just(value)
        if isinstance(value, dict) and depth < 1:
            keep = mutated(value, depth + 1)
        fields[name] = st.one_of(keep, keep, keep, JSON)
    extra = st.dictionaries(HOSTILE_TEXT, JSON, max_size=2)
    return st.builds(lambda base, more: {**more, **base}, st.fixed_dictionaries(fields), extra)


def collect(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    found: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def gather(value: Any) -> None:
        found.append(value)

    gather()
    return found[:count]


def templates(prospecting: str) -> dict[str, dict[str, Any]]:
    return {
        "paytrace_raw": shapes.raw_value(shapes.paytrace_record(930_000_001)),
        "payments": shapes.payment("850000000"),
        "salesforce_cdc": shapes.change("Opportunity", [prospecting], {"StageName": "Closed Won"}),
        "charge_commands": shapes.command(prospecting),
    }


def generated(count: int, prospecting: str) -> list[Hostile]:
    per_topic = max(count // 4, 1)
    out: list[Hostile] = []
    for topic, template in templates(prospecting).items():
        key = st.one_of(st.just(str(shapes.VALID_ID_BASE + 2).encode()), st.binary(max_size=40))
        for key_value, value in collect(st.tuples(key, mutated(template)), per_topic):
            out.append(Hostile(topic, "hypothesis", key_value, dumps(value), ACCEPTS[topic]))
    return out
