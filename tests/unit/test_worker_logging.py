"""The worker never leaves the root logger at DEBUG for Faust's terminal spinner."""

from __future__ import annotations

import logging

import pytest

from stream.worker import _Worker


@pytest.mark.parametrize("level", [logging.WARNING, logging.ERROR])
def test_root_logger_keeps_the_configured_level(level: int) -> None:
    # Faust keeps its spinner at warning and above and then sets the root logger to DEBUG:
    # every debug call in Faust and aiokafka would build a record.
    worker = _Worker.__new__(_Worker)
    worker.spinner = object()  # what Faust's Worker holds when it has a terminal spinner
    logger = logging.Logger("paystream-test-root", level)
    logger.addHandler(logging.NullHandler())
    worker.on_setup_root_logger(logger, level)
    assert logger.level == level
    assert worker.spinner is None
    assert len(logger.handlers) == 1  # no spinner handler added
