"""The flow runtime: the base classes every flow is one small class on.

A flow says what it does with one record (or one batch); the runtime owns the loop, the
replay skip, ingress limits, dead letters, retries, metrics and closing, so every flow gets the
same per-record guarantees: one record's failure is that record's alone, nothing is committed
without an outcome, and nothing a record carries can crash a worker.
"""
