"""Sage Pro connector: our own REST contract (Sage Pro has none), client, and emulator.

Modules are imported by their own path (``.client``, ``.settings``...): this package
re-exports nothing, so importing one never runs the others (no import cycles).
"""
