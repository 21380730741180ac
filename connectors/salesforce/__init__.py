"""Salesforce REST connector (API v62.0): settings, client, error table, models, emulator.

Modules are imported by their own path (``.client``, ``.settings``...): this package
re-exports nothing, so importing one never runs the others (no import cycles).
"""
