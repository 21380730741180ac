"""The Sage Pro emulator: our REST contract served from SQLite, with real accounting rules.

Modules are imported by their own path (e.g. ``create_app`` from ``.app``): this package
re-exports nothing, so importing one never runs the others (no import cycles).
"""
