"""PayTrace (v1 JSON API): typed client, error table, settings and a local emulator.

PayTrace has no webhooks; paystream ingests it by polling the transaction exports.

Modules are imported by their own path (``.client``, ``.settings``...): this package
re-exports nothing, so importing one never runs the others (no import cycles).
"""
