"""A local PayTrace v1 JSON API for tests and demos: ``create_app(EmulatorConfig(...))``.

Deterministic outcomes (also in connectors/paytrace/EMULATOR.md):

- Login: ``POST /oauth/token`` with the configured username/password; anything else gets
  HTTP 400 ``invalid_grant``. Tokens last 7200 s of emulator time.
- Sales and authorizations approve (101) unless:
  - the card is 4000000000000002 or 5100000000000016, or the amount's cents are .02
    -> declined, 102, HTTP 400, with a transaction_id (status DECLINED);
  - the billing zip is 99999 or the amount's cents are .03 -> approved then voided for an
    AVS mismatch, 103, HTTP 400 (status AUTO_VOIDED, avs_response "No Match");
  - the CSC is 000 -> 103 for a CSC mismatch (csc_response "No Match").
  By-customer charges use the vaulted card and billing address, so the same rules apply.
- Capture (112): an AUTHORIZED authorization, amount <= authorized; else 113.
- Void (109): unsettled approved sale/refund or authorization; else 110.
- Refund for transaction (106): settled approved sale or captured authorization, amount <=
  what is left; unsettled: error 817 (void it instead); else 107. Keyed refunds approve
  unless the card is a decline card (107).
- Settle (``POST /v1/transactions/settle``): closes the open batch on demand.
- Errors (HTTP 400, ``errors`` by PayTrace key): 35 bad card number (Luhn), 43 month,
  44 year or expired, 58 unknown transaction id, 30 unknown customer id, 171 duplicate
  customer id, 981 paths under ``permission_denied_prefix`` (set via /_emulator/faults),
  39 bad amount and 1 malformed request (the emulator's own choice of keys), 817 refund
  before settlement. Every field is checked: all failing keys come back at once.
- Controls: /_emulator/faults (latency, 5xx, 429 with ``retry_after``, down time),
  /_emulator/settle, /_emulator/expire_tokens, /_emulator/reset, /_emulator/clock,
  /_emulator/seed (a day of transactions in one request), /_emulator/served (records served).

Modules are imported by their own path (e.g. ``create_app`` from ``.app``): this package
re-exports nothing, so importing one never runs the others (no import cycles).
"""
