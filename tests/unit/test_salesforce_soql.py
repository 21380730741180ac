from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce import soql  # the module, not a re-export
from connectors.salesforce.emulator.query import matches

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}(__c)?", fullmatch=True).filter(
    lambda n: n.upper() not in soql._KEYWORDS
)
strings = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
literals = st.one_of(
    strings,
    st.integers(min_value=-(10**9), max_value=10**9),
    st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False),
    st.booleans(),
    st.none(),
    st.dates(min_value=date(1970, 1, 1), max_value=date(2999, 12, 31)),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2999, 1, 1)).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    ),
)
ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
like_patterns = st.from_regex(r"[A-Za-z0-9 %_]{0,10}", fullmatch=True)

predicates = st.one_of(
    st.builds(soql.Comparison, names, ops, literals),
    st.builds(
        soql.InList, names, st.lists(literals, min_size=1, max_size=4).map(tuple), st.booleans()
    ),
    st.builds(soql.Like, names, like_patterns),
)
conditions = st.recursive(
    predicates,
    lambda inner: st.one_of(
        st.builds(soql.Not, inner),
        st.builds(
            soql.BoolOp,
            st.sampled_from(["AND", "OR"]),
            st.lists(inner, min_size=2, max_size=3).map(tuple),
        ),
    ),
    max_leaves=6,
)
queries = st.builds(
    soql.Query,
    names,
    st.lists(names, min_size=1, max_size=4).map(tuple),
    st.just(False),
    st.one_of(st.none(), conditions),
    st.lists(
        st.builds(soql.OrderItem, names, st.booleans(), st.one_of(st.none(), st.booleans())),
        max_size=2,
    ).map(tuple),
    st.one_of(st.none(), st.integers(min_value=0, max_value=50000)),
    st.one_of(st.none(), st.integers(min_value=0, max_value=2000)),
)


@given(queries)
def test_render_then_parse_round_trips(query: soql.Query) -> None:
    assert soql.parse(soql.render(query)) == query


@given(strings)
def test_string_literals_round_trip(value: str) -> None:
    parsed = soql.parse(f"SELECT Id FROM Account WHERE Name = {soql.literal(value)}")
    assert parsed.where == soql.Comparison("Name", "=", value)


def test_count_and_keywords_are_case_insensitive() -> None:
    parsed = soql.parse(
        "select count() from Payment__c "
        "where Status__c in ('Completed', 'Settled') and Amount__c >= 10.50"
    )
    assert parsed.count and parsed.sobject == "Payment__c"
    assert parsed.where == soql.BoolOp(
        "AND",
        (
            soql.InList("Status__c", ("Completed", "Settled")),
            soql.Comparison("Amount__c", ">=", Decimal("10.50")),
        ),
    )


def test_datetime_and_not_equal_forms() -> None:
    parsed = soql.parse(
        "SELECT Id FROM Order WHERE LastModifiedDate > 2024-05-01T10:00:00Z AND Status <> 'Draft'"
    )
    assert parsed.where == soql.BoolOp(
        "AND",
        (
            soql.Comparison("LastModifiedDate", ">", datetime(2024, 5, 1, 10, tzinfo=UTC)),
            soql.Comparison("Status", "!=", "Draft"),
        ),
    )


@pytest.mark.parametrize(
    "text",
    [
        "SELECT FROM Account",
        "SELECT Id FRM Account",
        "SELECT Id FROM Account WHERE",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        "SELECT Id FROM Account WHERE Name LIKE 5",
        "SELECT Id FROM Account LIMIT -1",
        "SELECT Id, FROM Account",
        "SELECT Id FROM Account WHERE Name = 'a' extra",
        "SELECT Id FROM Account WHERE Name ~ 'a'",
        "SELECT Id FROM Account WHERE Name = 'bad \\q escape'",
    ],
)
def test_malformed_queries_are_rejected(text: str) -> None:
    with pytest.raises(soql.SoqlSyntaxError):
        soql.parse(text)


def test_like_semantics() -> None:
    assert soql.like_regex("Acme%").fullmatch("ACME Corp")
    assert soql.like_regex("A_me").fullmatch("acme")
    assert not soql.like_regex("A_me").fullmatch("acmee")
    assert soql.like_regex(r"100\%").fullmatch("100%")
    assert not soql.like_regex(r"100\%").fullmatch("1000")


@given(
    st.lists(st.one_of(st.none(), st.integers(-100, 100)), min_size=1, max_size=20),
    st.integers(-100, 100),
    ops,
)
def test_numeric_comparison_matches_python(values: list[int | None], bound: int, op: str) -> None:
    cond = soql.parse(f"SELECT Id FROM Opportunity WHERE Amount {op} {bound}").where
    assert cond is not None
    py = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[op]
    for value in values:
        record = {"Amount": None if value is None else float(value)}
        expected = py(value, bound) if value is not None else op == "!="
        assert matches(record, cond) is expected


def test_string_equality_is_case_insensitive_and_null_aware() -> None:
    cond = soql.parse("SELECT Id FROM Account WHERE Name = 'ACME' AND Phone = null").where
    assert cond is not None
    assert matches({"Name": "acme", "Phone": None}, cond)
    assert not matches({"Name": "acme", "Phone": "1"}, cond)
