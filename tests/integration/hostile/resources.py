"""The API resources each emulated system has, as the pipeline may ask for them.

A request outside them (a dot segment collapsed by the HTTP client, an id that became a path,
a collection root where one record was meant) is a finding: on the real APIs it would read or
change something other than the record the pipeline meant.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

SEGMENT = r"(?!\.\.?(?:/|$))[^/]+"  # one path segment, not '.' or '..'
SF_ID = r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?"
SF_NAME = r"[A-Za-z][A-Za-z0-9_]*"
SF_DATA = r"/services/data/v\d+\.\d+"
SAGE = r"/api/(?:customers|invoices|orders|payments|journalentries|creditmemos|glaccounts)"

RESOURCES: dict[str, list[tuple[str, str]]] = {
    "paytrace": [
        ("POST", r"/oauth/token"),
        ("POST", r"/v1/transactions/(?:sale|authorization)/(?:keyed|by_customer)"),
        (
            "POST",
            r"/v1/transactions/(?:authorization/capture|void|refund/for_transaction|refund/keyed)",
        ),
        ("POST", r"/v1/transactions/export/(?:by_date_range|by_id)"),
        ("POST", r"/v1/batches/export"),
        ("POST", r"/v1/customer/(?:create|update|delete|export)"),
    ],
    "salesforce": [
        ("POST", r"/services/oauth2/token"),
        ("GET", SF_DATA + r"/limits"),
        ("GET", SF_DATA + r"/query/?"),
        ("GET", SF_DATA + r"/query/" + SEGMENT),
        ("POST", SF_DATA + r"/sobjects/" + SF_NAME),
        ("GET|PATCH|DELETE", SF_DATA + r"/sobjects/" + SF_NAME + "/" + SF_ID),
        ("GET|PATCH", SF_DATA + r"/sobjects/" + SF_NAME + "/" + SF_NAME + "/" + SEGMENT),
        ("PATCH", SF_DATA + r"/composite/sobjects/" + SF_NAME + "/" + SF_NAME),
        # sObject Collections: the charge flow's write-backs and Tasks/Cases, one call a batch.
        ("PATCH|POST", SF_DATA + r"/composite/sobjects/?"),
        ("GET", SF_DATA + r"/composite/sobjects/" + SF_NAME),
    ],
    "sagepro": [
        ("GET|POST", SAGE),
        ("GET|PUT", SAGE + "/" + SEGMENT),
    ],
}
CHARGE_PATHS = re.compile(r"/v1/transactions/(?:sale|authorization)/")


def _traversal(raw_path: str) -> bool:
    path = raw_path.split("?", 1)[0]
    decoded_once = unquote(path)
    parts = decoded_once.split("/")
    return any(p in (".", "..") for p in parts[1:]) or "//" in path


def outside(system: str, method: str, raw_path: str) -> bool:
    """True when the request is no resource of the system's API (controls are not checked)."""
    if raw_path.startswith("/_emulator/"):
        return False
    path = raw_path.split("?", 1)[0]
    if _traversal(raw_path):
        return True
    for methods, pattern in RESOURCES[system]:
        if re.fullmatch(methods, method) and re.fullmatch(pattern, path):
            return False
    return True
