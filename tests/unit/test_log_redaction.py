"""Log records carry no card data or credentials, however they are logged and configured."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from mode import Service
from mode.utils import logging as mode_logging

from stream import log_redaction
from stream.log_redaction import RedactingFilter, redact_secrets
from stream.pci import find_card_codes, find_card_numbers

PAN = "4000 7700 0000 0307"
log = logging.getLogger("paystream.test")


@pytest.fixture
def installed() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory = logging.getLogRecordFactory()
    log_redaction.install()
    try:
        yield
    finally:
        log_redaction.uninstall()
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.setLogRecordFactory(factory)


def clean(text: str) -> bool:
    return not find_card_numbers(text) and not find_card_codes(text)


def test_message_and_args_are_redacted(installed: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        log.info("note %r: customer read card %s cvv %s", {"n": 1}, PAN, 739)
        log.warning({"Description": f"card {PAN}"})  # a non-string message
        log.info("%(note)s", {"note": f"card {PAN}"})  # mapping args
    assert len(caplog.records) == 3
    assert "customer read card xxxxxxxxxxxx0307 cvv xxx" in caplog.text
    assert clean(caplog.text)
    assert all(clean(r.getMessage()) and not r.args for r in caplog.records)


def test_tracebacks_are_formatted_redacted_and_the_exception_dropped(
    installed: None, caplog: pytest.LogCaptureFixture
) -> None:
    def charge(number: str) -> None:
        raise ValueError(f"declined: {number} csc=123")

    try:
        charge(PAN)
    except ValueError:
        log.exception("charge failed")
    record = caplog.records[-1]
    assert record.exc_info is None and record.exc_text
    assert "ValueError: declined: xxxxxxxxxxxx0307 csc=xxx" in caplog.text
    assert clean(caplog.text)


def test_a_bad_format_string_still_logs(installed: None, caplog: pytest.LogCaptureFixture) -> None:
    log.warning("%d items", f"card {PAN}")
    assert "xxxxxxxxxxxx0307" in caplog.records[-1].getMessage()
    assert clean(caplog.text)


def test_extras_stack_and_credentials_through_a_handler_filter() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s | %(note)s | %(data)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("paystream.test.extras")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "token refreshed: access_token=00D5g!AQabc",
            extra={"note": f"card {PAN}", "data": {"cvv": "739", "memo": PAN}},
            stack_info=True,
        )
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "access_token=[redacted]" in out and "00D5g" not in out
    assert "| card xxxxxxxxxxxx0307 | {'memo': 'xxxxxxxxxxxx0307'}" in out
    assert clean(out)


def test_faust_and_mode_loggers_after_mode_sets_up_logging(
    installed: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a Faust worker does on start: root handlers cleared and replaced.
    stream = io.StringIO()
    extra_handler = logging.StreamHandler(stream)
    mode_logging.setup_logging(loglevel="INFO", loghandlers=[extra_handler])

    class Charger(Service):
        pass

    Charger().log.info("charging %s cvv %s", PAN, "739")  # mode's CompositeLogger
    mode_logging.get_logger("faust.transport.test").error("payload %r", {"card": PAN})
    try:
        raise RuntimeError(f"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x for {PAN}")
    except RuntimeError:
        logging.getLogger("faust.worker").exception("crashed")
    written = stream.getvalue() + capsys.readouterr().err
    assert "charging xxxxxxxxxxxx0307 cvv xxx" in written
    assert "Bearer [redacted]" in written and "eyJhbGci" not in written
    assert clean(written)


def test_install_twice_wraps_once(installed: None) -> None:
    factory = logging.getLogRecordFactory()
    log_redaction.install()
    assert logging.getLogRecordFactory() is factory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer [redacted]"),
        ("{'Authorization': 'Bearer abc'}", "{'Authorization': '[redacted]'}"),
        ("headers: Bearer 00D5g0000!AQxyz123", "headers: Bearer [redacted]"),
        (
            "POST /oauth/token grant_type=password&client_secret=s3cr3t&password=hunter2",
            "POST /oauth/token grant_type=password&client_secret=[redacted]&password=[redacted]",
        ),
        (
            '{"access_token": "abc def", "expires": 3600}',
            '{"access_token": "[redacted]", "expires": 3600}',
        ),
        (
            "api_key=AKIA123 apiKey: zzz X-API-KEY=q",
            "api_key=[redacted] apiKey: [redacted] X-API-KEY=[redacted]",
        ),
        ("refresh_token='r1'", "refresh_token='[redacted]'"),
        ("tokens: 5, password reset requested", "tokens: 5, password reset requested"),
    ],
)
def test_credentials_are_masked(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected
    assert redact_secrets(expected) == expected
