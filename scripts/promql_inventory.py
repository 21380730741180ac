"""Every PromQL expression the Grafana dashboards and the alert rules use, ready to query.

    python scripts/promql_inventory.py   # print them, template variables substituted

The observability test asks a real Prometheus for each of them; the unit tests check that
every metric they name is one stream/metrics.py defines.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
ALERT_RULES = ROOT / "grafana" / "alerts" / "paystream.rules.yml"

_INTERVALS = ("$__rate_interval", "$__interval", "$__range")
_COMPARISONS = (">=", "<=", "==", "!=", ">", "<")
_SELECTOR = re.compile(r"\b(paystream_[a-z0-9_]+|up)\b\s*(\{[^}]*\})?")
_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


@dataclass(frozen=True)
class Query:
    source: str  # file and panel, variable or alert it came from
    expr: str


def dashboard_queries(directory: Path = DASHBOARDS) -> list[Query]:
    found = []
    for path in sorted(directory.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                source = f"{path.name}: {panel['title']} [{target['refId']}]"
                found.append(Query(source, target["expr"]))
    return found


def variable_queries(directory: Path = DASHBOARDS) -> list[Query]:
    """Query variables as the series selector that feeds them (``label_values(m, l)`` -> m)."""
    found = []
    for path in sorted(directory.glob("*.json")):
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] != "query":
                continue
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            match = _LABEL_VALUES.match(text.strip())
            if match is None or match.group(1) is None:
                raise ValueError(f"{path.name} ${variable['name']}: unsupported query {text!r}")
            found.append(Query(f"{path.name}: ${variable['name']}", match.group(1).strip()))
    return found


def variable_labels(directory: Path = DASHBOARDS) -> dict[str, str]:
    """Variable name -> the label whose values it offers."""
    labels = {}
    for path in sorted(directory.glob("*.json")):
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]
                text = query["query"] if isinstance(query, dict) else query
                match = _LABEL_VALUES.match(text.strip())
                if match is not None:
                    labels[variable["name"]] = match.group(2)
    return labels


def alert_rules(path: Path = ALERT_RULES) -> list[Query]:
    found = []
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            found.append(Query(f"{path.name}: {name}", rule["expr"]))
    return found


def substitute(expr: str, window: str = "1m", match_all: str = ".*") -> str:
    """What Grafana sends: intervals become ``window``, variables a regex matching all."""
    for name in _INTERVALS:
        expr = expr.replace(name, window)
    expr = re.sub(r"\$\{(\w+)\}|\$(\w+)", match_all, expr)
    return expr


def _top_level(expr: str) -> list[tuple[int, str]]:
    """Comparison operators outside parentheses, brackets, braces and strings."""
    found, depth, quote, index = [], 0, "", 0
    while index < len(expr):
        char = expr[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            op = next((op for op in _COMPARISONS if expr.startswith(op, index)), None)
            if op is not None:
                found.append((index, op))
                index += len(op)
                continue
        index += 1
    return found


def measure(expr: str) -> str:
    """The alert's measured value: its expression without the final threshold comparison."""
    comparisons = _top_level(expr)
    if not comparisons:
        return expr
    index, _ = comparisons[-1]
    return expr[:index].strip()


def selectors(expr: str) -> list[str]:
    """Series selectors (metric name plus matchers) an expression reads."""
    return [name + (matchers or "") for name, matchers in _SELECTOR.findall(expr)]


def metric_names(expr: str) -> set[str]:
    return {name for name, _ in _SELECTOR.findall(expr)}


def main() -> int:
    for query in dashboard_queries() + variable_queries() + alert_rules():
        print(f"# {query.source}\n{substitute(query.expr)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
