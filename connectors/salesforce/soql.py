"""A small SOQL parser (the subset paystream uses) and safe literal formatting.

Grammar::

    query     := SELECT (COUNT() | field ("," field)*) FROM name
                 [WHERE condition] [ORDER BY order ("," order)*] [LIMIT int] [OFFSET int]
    condition := conjunct (OR conjunct)*
    conjunct  := unary (AND unary)*
    unary     := NOT unary | "(" condition ")" | predicate
    predicate := field op literal | field [NOT] IN "(" literal ("," literal)* ")"
                 | field LIKE string
    order     := field [ASC | DESC] [NULLS (FIRST | LAST)]

The emulator evaluates the tree; the client uses ``literal`` to build queries without
injection. Keywords are case-insensitive, as in SOQL.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

Literal = str | int | Decimal | bool | None | date | datetime


class SoqlSyntaxError(ValueError):
    """The text is not a query this parser understands (MALFORMED_QUERY)."""


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str  # one of = != < <= > >=
    value: Literal


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    field: str
    pattern: str  # as written between the quotes, escapes kept (see ``like_regex``)


@dataclass(frozen=True)
class Not:
    term: Condition


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    terms: tuple[Condition, ...]


Condition = Comparison | InList | Like | Not | BoolOp


@dataclass(frozen=True)
class OrderItem:
    field: str
    descending: bool = False
    nulls_last: bool | None = None  # None: SOQL default (nulls first ascending, last descending)


@dataclass(frozen=True)
class Query:
    sobject: str
    fields: tuple[str, ...]
    count: bool = False
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)

_KEYWORDS = frozenset(
    "SELECT FROM WHERE AND OR NOT IN LIKE ORDER BY ASC DESC NULLS FIRST LAST LIMIT OFFSET "
    "TRUE FALSE NULL COUNT".split()
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise SoqlSyntaxError(f"unexpected character: '{text[pos]}' at position {pos}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _unescape(body: str) -> str:
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
        elif nxt in "%_":
            out.append("\\" + nxt)  # LIKE escapes stay escaped for the pattern matcher
        else:
            raise SoqlSyntaxError(f"invalid escape sequence: \\{nxt}")
    return "".join(out)


@functools.lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern[str]:
    """Compile a LIKE pattern body: % any run, _ one character, backslash escapes."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char == "\\":
            nxt = next(chars, "")
            out.append(re.escape(_ESCAPES.get(nxt, nxt)))
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token.kind == "name" and token.text.upper() in words:
            self.index += 1
            return token.text.upper()
        return None

    def expect_keyword(self, word: str) -> None:
        if self.keyword(word) is None:
            self.fail(f"expecting '{word}'")

    def punct(self, char: str) -> bool:
        token = self.peek()
        if token and token.kind == "punct" and token.text == char:
            self.index += 1
            return True
        return False

    def expect_punct(self, char: str) -> None:
        if not self.punct(char):
            self.fail(f"expecting '{char}'")

    def fail(self, what: str) -> None:
        token = self.peek()
        found = f"unexpected token: '{token.text}'" if token else "unexpected end of query"
        raise SoqlSyntaxError(f"{found} ({what})")

    def name(self, *, allow_keyword: bool = False) -> str:
        token = self.peek()
        if (
            token is None
            or token.kind != "name"
            or (token.text.upper() in _KEYWORDS and not allow_keyword)
        ):
            self.fail("expecting a field or object name")
            raise AssertionError  # unreachable; fail raises
        self.index += 1
        return token.text

    def integer(self) -> int:
        token = self.peek()
        if token is None or token.kind != "number" or not token.text.isdigit():
            self.fail("expecting a non-negative integer")
            raise AssertionError
        self.index += 1
        return int(token.text)

    def literal(self) -> Literal:
        token = self.peek()
        if token is None:
            self.fail("expecting a value")
            raise AssertionError
        self.index += 1
        if token.kind == "string":
            return _unescape(token.text[1:-1])
        if token.kind == "number":
            return Decimal(token.text) if "." in token.text else int(token.text)
        if token.kind == "datetime":
            return _parse_datetime(token.text)
        if token.kind == "date":
            return date.fromisoformat(token.text)
        if token.kind == "name" and token.text.upper() in ("TRUE", "FALSE", "NULL"):
            return {"TRUE": True, "FALSE": False, "NULL": None}[token.text.upper()]
        self.index -= 1
        self.fail("expecting a value")
        raise AssertionError

    def query(self) -> Query:
        self.expect_keyword("SELECT")
        count = False
        fields: list[str] = []
        if self.keyword("COUNT"):
            self.expect_punct("(")
            self.expect_punct(")")
            count = True
        else:
            fields.append(self.name())
            while self.punct(","):
                fields.append(self.name())
        self.expect_keyword("FROM")
        sobject = self.name(allow_keyword=True)  # "FROM Order" names the Order object
        where = self.condition() if self.keyword("WHERE") else None
        order_by: list[OrderItem] = []
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            order_by.append(self.order_item())
            while self.punct(","):
                order_by.append(self.order_item())
        limit = self.integer() if self.keyword("LIMIT") else None
        offset = self.integer() if self.keyword("OFFSET") else None
        if self.peek() is not None:
            self.fail("expecting end of query")
        return Query(sobject, tuple(fields), count, where, tuple(order_by), limit, offset)

    def order_item(self) -> OrderItem:
        field = self.name()
        descending = self.keyword("ASC", "DESC") == "DESC"
        nulls_last: bool | None = None
        if self.keyword("NULLS"):
            which = self.keyword("FIRST", "LAST")
            if which is None:
                self.fail("expecting FIRST or LAST")
            nulls_last = which == "LAST"
        return OrderItem(field, descending, nulls_last)

    def condition(self) -> Condition:
        terms = [self.conjunct()]
        while self.keyword("OR"):
            terms.append(self.conjunct())
        return terms[0] if len(terms) == 1 else BoolOp("OR", tuple(terms))

    def conjunct(self) -> Condition:
        terms = [self.unary()]
        while self.keyword("AND"):
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else BoolOp("AND", tuple(terms))

    def unary(self) -> Condition:
        if self.keyword("NOT"):
            return Not(self.unary())
        if self.punct("("):
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        field = self.name()
        token = self.peek()
        if token is not None and token.kind == "op":
            self.index += 1
            op = "!=" if token.text == "<>" else token.text
            return Comparison(field, op, self.literal())
        negated = self.keyword("NOT") is not None
        if self.keyword("IN"):
            self.expect_punct("(")
            values = [self.literal()]
            while self.punct(","):
                values.append(self.literal())
            self.expect_punct(")")
            return InList(field, tuple(values), negated)
        if not negated and self.keyword("LIKE"):
            token = self.peek()
            if token is None or token.kind != "string":
                self.fail("LIKE needs a string")
                raise AssertionError
            self.index += 1
            _unescape(token.text[1:-1])  # validates the escapes
            return Like(field, token.text[1:-1])
        self.fail("expecting an operator")
        raise AssertionError


def parse(text: str) -> Query:
    """Parse a SOQL query; raises ``SoqlSyntaxError`` with a MALFORMED_QUERY-style message."""
    return _Parser(text).query()


def literal(value: Literal) -> str:
    """Format a Python value as a SOQL literal (quoting and escaping strings)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\b", "\\b")
        .replace("\f", "\\f")
    )
    return f"'{escaped}'"


def render(query: Query) -> str:
    """Text for a parsed query (parse(render(q)) == q)."""
    head = "COUNT()" if query.count else ", ".join(query.fields)
    parts = [f"SELECT {head} FROM {query.sobject}"]  # noqa: S608 - SOQL text, not SQL
    if query.where is not None:
        parts.append("WHERE " + _render_condition(query.where))
    if query.order_by:
        items = []
        for item in query.order_by:
            text = item.field + (" DESC" if item.descending else " ASC")
            if item.nulls_last is not None:
                text += " NULLS LAST" if item.nulls_last else " NULLS FIRST"
            items.append(text)
        parts.append("ORDER BY " + ", ".join(items))
    if query.limit is not None:
        parts.append(f"LIMIT {query.limit}")
    if query.offset is not None:
        parts.append(f"OFFSET {query.offset}")
    return " ".join(parts)


def _render_condition(cond: Condition) -> str:
    if isinstance(cond, Comparison):
        return f"{cond.field} {cond.op} {literal(cond.value)}"
    if isinstance(cond, InList):
        values = ", ".join(literal(v) for v in cond.values)
        return f"{cond.field} {'NOT IN' if cond.negated else 'IN'} ({values})"
    if isinstance(cond, Like):
        return f"{cond.field} LIKE '{cond.pattern}'"
    if isinstance(cond, Not):
        return f"NOT ({_render_condition(cond.term)})"
    return f" {cond.op} ".join(f"({_render_condition(t)})" for t in cond.terms)
