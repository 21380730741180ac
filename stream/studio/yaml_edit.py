"""Edits made in the studio applied to the mapping's YAML *text*, so comments, order and
layout survive and the result is a small diff a person reviews and commits (the file stays
the source of truth).

Supported: set the value at a key path, rename the last key of a path, add a key to a block
mapping, remove a key. A path ends either at a block-style ``key: value`` line or inside a
one-line flow mapping (``sale: {debit: "1010", credit: "1200"}``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# Matched whole (fullmatch): a "$" anchor would let a trailing newline through unquoted.
PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_. /-]*")
RESERVED = {"yes", "no", "true", "false", "null", "on", "off", "y", "n", "~"}


class EditError(ValueError):
    """An edit the text cannot take (a path that is not there)."""


def scalar(value: str) -> str:
    """``value`` as a YAML scalar that reads back as the same string."""
    if PLAIN.fullmatch(value) and value.lower() not in RESERVED and not value.endswith(" "):
        return value
    out = []
    for ch in value:
        code = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:  # YAML's own escapes: \u for the BMP, \U beyond (no surrogate pairs)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


@dataclass(frozen=True)
class Located:
    line: int  # index of the line holding the key
    indent: int


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _key_of(line: str) -> str | None:
    match = re.match(r"^\s*([^\s:#][^:#]*?|\"[^\"]*\"|'[^']*'):(\s|$)", line)
    if not match:
        return None
    return match.group(1).strip("\"'")


def _block(lines: list[str], parent: Located | None) -> range:
    if parent is None:
        return range(len(lines))
    end = parent.line + 1
    while end < len(lines) and (not _content(lines[end]) or _indent(lines[end]) > parent.indent):
        end += 1
    return range(parent.line + 1, end)


def locate(lines: list[str], path: list[str]) -> Located:
    parent: Located | None = None
    for depth, key in enumerate(path):
        block = _block(lines, parent)
        levels = [_indent(lines[i]) for i in block if _content(lines[i])]
        if not levels:
            raise EditError(f"{'.'.join(path[:depth])} has no block to hold {key!r}")
        level = min(levels)
        found = next(
            (i for i in block if _indent(lines[i]) == level and _key_of(lines[i]) == key), None
        )
        if found is None:
            raise EditError(f"no key {'.'.join(path[: depth + 1])}")
        parent = Located(found, level)
    assert parent is not None
    return parent


def _split_comment(rest: str) -> tuple[str, str]:
    match = re.search(r"\s+#.*$", rest)
    if match and rest[: match.start()].count('"') % 2 == 0:
        return rest[: match.start()], rest[match.start() :]
    return rest, ""


def set_value(text: str, path: list[str], value: str) -> str:
    lines = text.split("\n")
    try:
        at = locate(lines, path)
    except EditError:
        if len(path) < 2:
            raise
        return _set_in_flow(lines, path, value)
    line = lines[at.line]
    head, _, rest = line.partition(":")
    _, comment = _split_comment(rest)
    lines[at.line] = f"{head}: {scalar(value)}{comment}"
    return "\n".join(lines)


def _set_in_flow(lines: list[str], path: list[str], value: str) -> str:
    at = locate(lines, path[:-1])
    line = lines[at.line]
    key = re.escape(path[-1])
    pattern = re.compile(rf"([{{,]\s*{key}:\s*)(\"[^\"]*\"|'[^']*'|[^,}}]+?)(\s*[,}}])")
    if not pattern.search(line):
        raise EditError(f"no key {'.'.join(path)}")
    lines[at.line] = pattern.sub(lambda m: m.group(1) + scalar(value) + m.group(3), line, 1)
    return "\n".join(lines)


def rename_key(text: str, path: list[str], new_key: str) -> str:
    lines = text.split("\n")
    at = locate(lines, path)
    line = lines[at.line]
    _, _, rest = line.partition(":")
    lines[at.line] = f"{' ' * at.indent}{scalar(new_key)}:{rest}"
    return "\n".join(lines)


def add_key(text: str, parent: list[str], key: str, value: str) -> str:
    lines = text.split("\n")
    at = locate(lines, parent)
    block = _block(lines, at)
    content = [i for i in block if _content(lines[i])]
    if not content:
        raise EditError(f"{'.'.join(parent)} is not a block mapping")
    indent = min(_indent(lines[i]) for i in content)
    lines.insert(content[-1] + 1, f"{' ' * indent}{scalar(key)}: {scalar(value)}")
    return "\n".join(lines)


def remove_key(text: str, path: list[str]) -> str:
    lines = text.split("\n")
    at = locate(lines, path)
    end = max([at.line, *_block(lines, at)]) + 1
    del lines[at.line : end]
    return "\n".join(lines)


def apply(text: str, op: dict[str, object]) -> str:
    """One edit from the page: ``{"op": "set"|"rename"|"add"|"remove", "path": [...], ...}``."""
    path = [str(p) for p in op.get("path", [])]  # type: ignore[attr-defined]
    kind = op.get("op")
    if kind == "set":
        return set_value(text, path, str(op["value"]))
    if kind == "rename":
        return rename_key(text, path, str(op["value"]))
    if kind == "add":
        return add_key(text, path, str(op["key"]), str(op["value"]))
    if kind == "remove":
        return remove_key(text, path)
    raise EditError(f"unknown edit {kind!r}")


def unified(before: str, after: str, name: str) -> str:
    """The patch to save: ``git apply`` takes it from the repository root."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )
