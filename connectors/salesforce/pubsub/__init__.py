"""Salesforce Pub/Sub API (gRPC): Change Data Capture subscriber, its errors and events.

Import from the modules (``client``, ``errors``, ``events``): a package that re-exported them
would be imported by each of them first, an import cycle (tests/unit/test_imports.py).
"""
