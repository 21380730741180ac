"""A mapping's version: a hash of its content, carried on every record a worker writes.

The hash is taken over the validated mapping (defaults filled in, keys sorted), not the file's
bytes, so a comment or a reordered key is the same version and any change of behaviour is a
new one. Records carry it in the ``paystream-mapping-version`` header, so anyone reading a topic
(the studio included) can tell which mapping produced a record.
"""

from __future__ import annotations

import hashlib

import orjson

from stream.mapping import Mapping

HEADER = "paystream-mapping-version"
_cache: dict[int, tuple[Mapping, str]] = {}


def mapping_version(mapping: Mapping) -> str:
    """12 hex digits of the SHA-256 of the mapping's canonical JSON."""
    cached = _cache.get(id(mapping))
    if cached is not None and cached[0] is mapping:  # ids are reused once an object is gone
        return cached[1]
    canonical = orjson.dumps(mapping.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    version = hashlib.sha256(canonical).hexdigest()[:12]
    if len(_cache) >= 16:  # a worker holds one mapping; the studio makes one per edit
        _cache.clear()
    _cache[id(mapping)] = (mapping, version)
    return version


def version_header(mapping: Mapping) -> tuple[str, bytes]:
    return HEADER, mapping_version(mapping).encode()


def header_version(headers: object) -> str | None:
    """The version a record's headers name (a list of pairs or a dict), if any."""
    items = headers.items() if isinstance(headers, dict) else (headers or ())
    for name, value in items:  # type: ignore[attr-defined]
        text = name.decode() if isinstance(name, bytes) else str(name)
        if text == HEADER and isinstance(value, bytes | bytearray):
            return bytes(value).decode("ascii", "replace")
    return None
