"""``paystream mapping diff A B``: what changed between two mappings, in words.

Both files are compared as validated mappings (defaults filled in), section by section, so
the lines speak of what a worker would do differently: a field filled from another source, a
status written differently, a GL account moved, a trigger added. Sections this module has no
words for (a new one, say) are still reported, path by path.
"""

from __future__ import annotations

from typing import Any

from stream.mapping import Mapping


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def _keyed(
    before: dict[str, Any], after: dict[str, Any], what: str, verb: str = "maps to"
) -> list[str]:
    lines = []
    removed = {k: v for k, v in before.items() if k not in after}
    added = {k: v for k, v in after.items() if k not in before}
    renamed: set[str] = set()
    for old_key, value in removed.items():
        # The same value under a new key, once each: a rename, said as one.
        twins = [k for k, v in added.items() if v == value and k not in renamed]
        if len(twins) == 1 and [v for v in removed.values() if v == value] == [value]:
            renamed |= {old_key, twins[0]}
            lines.append(f"{what} {old_key} renamed to {twins[0]} ({verb} {_show(value)})")
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if old == new or key in renamed:
            continue
        if old is None:
            lines.append(f"{what} {key} added: {verb} {_show(new)}")
        elif new is None:
            lines.append(f"{what} {key} removed (was {_show(old)})")
        else:
            lines.append(f"{what} {key} now {verb} {_show(new)} (was {_show(old)})")
    return lines


def _rules(before: list[Any], after: list[Any], what: str) -> list[str]:
    lines = [f"{what} removed: {_show(rule)}" for rule in before if rule not in after]
    lines += [f"{what} added: {_show(rule)}" for rule in after if rule not in before]
    kept_before = [rule for rule in before if rule in after]
    kept_after = [rule for rule in after if rule in before]
    if not lines and kept_before != kept_after:
        lines.append(f"{what}s reordered (the first match wins, so this changes results)")
    return lines


def _gl(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    lines = []
    for kind in sorted(set(before) | set(after)):
        old, new = before.get(kind), after.get(kind)
        if old == new:
            continue
        if old is None or new is None:
            state = "added" if old is None else "removed"
            rule = new or old or {}
            lines.append(
                f"GL accounts for {kind} {state}: debit {rule['debit']}, credit {rule['credit']}"
            )
            continue
        for side in ("debit", "credit"):
            if old[side] != new[side]:
                lines.append(f"GL account for {kind} {side} moved from {old[side]} to {new[side]}")
    return lines


def _triggers(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    def by_name(rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {f"{r['object']}.{r['name']}": r for r in rules}

    def words(rule: dict[str, Any]) -> str:
        when = f"{rule['field']} = {rule['value']!r}" if rule.get("field") else "any change"
        return f"on {'/'.join(rule['change_types'])} of {rule['object']} when {when}"

    old, new = by_name(before), by_name(after)
    lines = []
    for name in sorted(set(old) | set(new)):
        if name not in new:
            lines.append(f"charge trigger {name} removed: no longer charges {words(old[name])}")
        elif name not in old:
            lines.append(f"charge trigger {name} added: charges {words(new[name])}")
        elif old[name] != new[name]:
            lines.append(
                f"charge trigger {name} now charges {words(new[name])} (was {words(old[name])})"
            )
    return lines


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{path}.{key}" if path else str(key)))
        return out
    return {path: value}


# Sections with their own words: (path, how to compare).
def _sections(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, list[str]]]:
    sf_a, sf_b = a["salesforce"], b["salesforce"]
    sp_a, sp_b = a["sagepro"], b["sagepro"]
    return [
        ("types", _keyed(a["types"], b["types"], "PayTrace type", "becomes")),
        ("statuses", _rules(a["statuses"], b["statuses"], "status rule")),
        ("correlation", _rules(a["correlation"], b["correlation"], "correlation rule")),
        ("custom_fields", _keyed(a["custom_fields"], b["custom_fields"], "custom field", "is")),
        ("salesforce.fields", _keyed(sf_a["fields"], sf_b["fields"], "Salesforce field", "from")),
        (
            "salesforce.status",
            _keyed(sf_a["status"], sf_b["status"], "payment status", "writes Salesforce"),
        ),
        ("salesforce.card_types", _keyed(sf_a["card_types"], sf_b["card_types"], "card type")),
        (
            "sagepro.payment_status",
            _keyed(
                sp_a["payment_status"], sp_b["payment_status"], "payment status", "writes Sage Pro"
            ),
        ),
        ("sagepro.gl_accounts", _gl(sp_a["gl_accounts"], sp_b["gl_accounts"])),
        (
            "collection.triggers",
            _triggers(a["collection"]["triggers"], b["collection"]["triggers"]),
        ),
    ]


def describe_changes(before: Mapping, after: Mapping) -> list[str]:
    """One line per change; empty when both mappings behave the same."""
    a, b = before.model_dump(mode="json"), after.model_dump(mode="json")
    lines: list[str] = []
    covered = []
    for path, found in _sections(a, b):
        covered.append(path)
        lines.extend(found)
    old, new = _leaves(a), _leaves(b)
    for path in sorted(set(old) | set(new)):
        if any(path == c or path.startswith(c + ".") for c in covered) or old.get(path) == new.get(
            path
        ):
            continue
        if path not in old:
            lines.append(f"{path} added: {_show(new[path])}")
        elif path not in new:
            lines.append(f"{path} removed (was {_show(old[path])})")
        else:
            lines.append(f"{path} changed from {_show(old[path])} to {_show(new[path])}")
    return lines
