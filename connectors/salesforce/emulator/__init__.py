"""An emulated Salesforce org speaking REST API v62.0 over aiohttp, state in SQLite.

Modules are imported by their own path (e.g. ``create_app`` from ``.app``): this package
re-exports nothing, so importing one never runs the others (no import cycles).
"""
