"""The default mapping file, its status rules, and what a broken mapping is refused for."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from connectors.sagepro.models import PaymentStatus as SageStatus
from schemas.payment import PaymentStatus, PaymentType
from stream.cli import app
from stream.mapping import CANONICAL_PATHS, DEFAULT_MAPPING, Mapping, load_mapping

Edit = Callable[[dict[str, Any]], None]
DEFAULT = load_mapping()  # module level: hypothesis tests cannot take fixtures


@pytest.fixture
def mapping() -> Mapping:
    return DEFAULT


@pytest.fixture(scope="module")
def default_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_MAPPING.read_text())
    return data


def test_default_mapping_loads_with_every_status_mapped(mapping: Mapping) -> None:
    assert load_mapping(DEFAULT_MAPPING) == mapping
    assert mapping.currency == "USD"
    assert set(mapping.salesforce.status) == set(PaymentStatus)
    assert set(mapping.sagepro.payment_status) == set(PaymentStatus)
    assert mapping.sagepro.payment_status[PaymentStatus.AUTHORIZED] == ""  # never posted
    posted = set(mapping.sagepro.payment_status.values()) - {""}
    assert posted <= {s.value for s in SageStatus}
    assert {"sale", "refund", "on_account"} <= set(mapping.sagepro.gl_accounts)
    assert mapping.salesforce.fields["Amount__c"] == "amount"
    assert mapping.salesforce.fields["SalesRepID__c"] == "custom.SalesRepID"


@pytest.mark.parametrize(
    ("paytrace_type", "canonical"),
    [
        ("SALE", PaymentType.SALE),
        ("sale", PaymentType.SALE),
        ("AUTHORIZATION", PaymentType.AUTHORIZATION),
        ("REFUND", PaymentType.REFUND),
        ("CAPTURE", PaymentType.CAPTURE),
        ("VOID", PaymentType.VOID),
        ("FORCE", PaymentType.SALE),
        ("LEVEL3", None),
    ],
)
def test_types(mapping: Mapping, paytrace_type: str, canonical: PaymentType | None) -> None:
    assert mapping.type_for(paytrace_type) is canonical


# Every (transaction_type, status) the PayTrace emulator writes, unsettled and settled.
EMULATOR_STATES = [
    ("SALE", "APPROVED", PaymentStatus.APPROVED, PaymentStatus.SETTLED),
    ("SALE", "DECLINED", PaymentStatus.DECLINED, PaymentStatus.DECLINED),
    ("SALE", "AUTO_VOIDED", PaymentStatus.DECLINED, PaymentStatus.DECLINED),
    ("SALE", "VOIDED", PaymentStatus.VOIDED, PaymentStatus.VOIDED),
    ("AUTHORIZATION", "AUTHORIZED", PaymentStatus.AUTHORIZED, PaymentStatus.AUTHORIZED),
    ("AUTHORIZATION", "CAPTURED", PaymentStatus.CAPTURED, PaymentStatus.SETTLED),
    ("AUTHORIZATION", "VOIDED", PaymentStatus.VOIDED, PaymentStatus.VOIDED),
    ("AUTHORIZATION", "DECLINED", PaymentStatus.DECLINED, PaymentStatus.DECLINED),
    ("AUTHORIZATION", "AUTO_VOIDED", PaymentStatus.DECLINED, PaymentStatus.DECLINED),
    ("REFUND", "APPROVED", PaymentStatus.REFUNDED, PaymentStatus.REFUNDED),
    ("REFUND", "VOIDED", PaymentStatus.VOIDED, PaymentStatus.VOIDED),
]


@pytest.mark.parametrize(("kind", "status", "unsettled", "settled"), EMULATOR_STATES)
def test_status_rules_for_every_emulator_state(
    mapping: Mapping,
    kind: str,
    status: str,
    unsettled: PaymentStatus,
    settled: PaymentStatus,
) -> None:
    assert mapping.status_for(kind, status, False) is unsettled
    assert mapping.status_for(kind, status, True) is settled


@given(st.sampled_from(EMULATOR_STATES), st.booleans(), st.data())
def test_status_rules_ignore_case(
    state: tuple[str, str, PaymentStatus, PaymentStatus], settled: bool, data: st.DataObject
) -> None:
    kind, status, unsettled_status, settled_status = state
    spelled = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in status)
    kind_spelled = data.draw(st.sampled_from([kind, kind.lower(), kind.title()]))
    expected = settled_status if settled else unsettled_status
    assert DEFAULT.status_for(kind_spelled, spelled, settled) is expected


def test_other_states_fall_through_to_the_catch_all_rules(mapping: Mapping) -> None:
    assert mapping.status_for("SALE", "PENDING", False) is PaymentStatus.APPROVED
    assert mapping.status_for("SALE", "ERROR", False) is PaymentStatus.FAILED
    assert mapping.status_for("REFUND", "FAILED", False) is PaymentStatus.FAILED
    assert mapping.status_for("SALE", "CHARGEBACK", True) is PaymentStatus.CHARGEBACK
    assert mapping.status_for("SALE", "cancelled", False) is PaymentStatus.VOIDED


def test_first_matching_rule_wins_and_none_when_nothing_matches(
    default_data: dict[str, Any],
) -> None:
    data = copy.deepcopy(default_data)
    data["statuses"] = [
        {"transaction_type": "SALE", "status": "APPROVED", "canonical": "approved"},
        {"transaction_type": "SALE", "status": "APPROVED", "canonical": "failed"},
        {"transaction_type": "*", "status": "X.*", "settled": True, "canonical": "settled"},
    ]
    custom = Mapping.model_validate(data)
    assert custom.status_for("SALE", "APPROVED", True) is PaymentStatus.APPROVED
    assert custom.status_for("REFUND", "XYZ", True) is PaymentStatus.SETTLED
    assert custom.status_for("REFUND", "XYZ", False) is None
    assert custom.status_for("SALE", "APPROVEDX", False) is None  # full match, not a prefix


def _set(path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target = data
        for part in parents:
            target = target[part]
        target[last] = value

    return edit


def _drop(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target = data
        for part in parents:
            target = target[part]
        del target[last]

    return edit


def _prepend_status(rule: dict[str, Any]) -> Edit:
    return lambda data: data["statuses"].insert(0, rule)


BROKEN = {
    "unknown canonical path": (
        _set("salesforce/fields/Due__c", "amount_due"),
        "Due__c: unknown source 'amount_due'",
    ),
    "unknown custom field": (
        _set("salesforce/fields/Region__c", "custom.Region"),
        "Region__c: unknown custom field 'custom.Region'",
    ),
    "salesforce status missing": (
        _drop("salesforce/status/voided"),
        "salesforce.status lacks voided",
    ),
    "sage pro status missing": (
        _drop("sagepro/payment_status/refunded"),
        "sagepro.payment_status lacks refunded",
    ),
    "unknown Sage Pro status": (
        _set("sagepro/payment_status/voided", "Cancelled"),
        "unknown Sage Pro status 'Cancelled'",
    ),
    "unknown canonical status": (
        _prepend_status({"transaction_type": "SALE", "canonical": "paid"}),
        "statuses.0.canonical",
    ),
    "bad status regex": (
        _prepend_status({"transaction_type": "SALE", "status": "(APPR", "canonical": "approved"}),
        "bad regular expression '(APPR'",
    ),
    "bad correlation regex": (
        lambda data: data["correlation"].insert(
            0, {"field": "invoice_id", "pattern": "[006", "target": "order_id"}
        ),
        "bad regular expression '[006'",
    ),
    "bad custom field regex": (
        _set("custom_fields/Region", {"pattern": "(?P<value>"}),
        "bad regular expression",
    ),
    "custom field without a value group": (
        _set("custom_fields/Region", {"pattern": "region=([^;]+)"}),
        "pattern needs a named group (?P<value>...)",
    ),
    "gl account missing": (_drop("sagepro/gl_accounts/refund"), "gl_accounts needs refund"),
    "unknown gl account kind": (
        _set("sagepro/gl_accounts/fees", {"debit": "6100", "credit": "1010"}),
        "unknown gl_accounts keys: fees",
    ),
    "gl rule without credit": (
        _set("sagepro/gl_accounts/sale", {"debit": "1010"}),
        "sagepro.gl_accounts.sale.credit",
    ),
    "extra top-level key": (_set("colour", "blue"), "colour\n  Extra inputs are not permitted"),
    "extra nested key": (
        _set("salesforce/colour", "blue"),
        "salesforce.colour\n  Extra inputs are not permitted",
    ),
    "extra key in a status rule": (
        _prepend_status({"transaction_type": "SALE", "canonical": "approved", "note": "x"}),
        "statuses.0.note",
    ),
    "no status rules": (_set("statuses", []), "statuses\n  List should have at least 1 item"),
    "unknown payment type": (_set("types/LEVEL3", "level3"), "types.LEVEL3"),
    "template names an unknown custom field": (
        _set("to_paytrace/description", "region={Region}"),
        "to_paytrace.description: unknown custom field 'Region'",
    ),
    "bad currency": (_set("currency", "usd"), "currency"),
    "unknown version": (_set("version", 2), "version"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_mappings_are_refused_with_the_reason(
    default_data: dict[str, Any], case: str
) -> None:
    edit, message = BROKEN[case]
    data = copy.deepcopy(default_data)
    edit(data)
    with pytest.raises(ValidationError) as refused:
        Mapping.model_validate(data)
    assert message in str(refused.value)


@given(st.sampled_from(sorted(CANONICAL_PATHS)))
def test_every_canonical_path_is_accepted_as_a_source(path: str) -> None:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_MAPPING.read_text())
    data["salesforce"]["fields"]["Extra__c"] = path
    assert Mapping.model_validate(data).salesforce.fields["Extra__c"] == path


def test_the_mapping_cannot_be_changed_once_loaded(mapping: Mapping) -> None:
    with pytest.raises(ValidationError):
        mapping.currency = "EUR"  # type: ignore[misc]


runner = CliRunner()


def test_cli_check_accepts_the_default_file() -> None:
    result = runner.invoke(app, ["mapping", "check", str(DEFAULT_MAPPING)])
    assert result.exit_code == 0, result.output
    summary = "ok (12 status rules, 14 Salesforce fields, 2 custom fields)"
    assert result.stdout == f"{DEFAULT_MAPPING}: {summary}\n"


def test_cli_check_refuses_a_broken_copy_and_says_why(
    tmp_path: Path, default_data: dict[str, Any]
) -> None:
    data = copy.deepcopy(default_data)
    data["salesforce"]["fields"]["Region__c"] = "custom.Region"
    data["sagepro"]["payment_status"]["voided"] = "Cancelled"
    broken = tmp_path / "mapping.yaml"
    broken.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["mapping", "check", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}: invalid" in result.stderr
    assert "unknown custom field 'custom.Region'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("statuses: [\n", "expected"),  # not YAML at all
        ("statuses:\n  - {transaction_type: SALE, status: '(', canonical: approved}\n", "regular"),
        ("", "Input should be a valid dictionary"),
    ],
    ids=["yaml syntax", "bad regex", "empty file"],
)
def test_cli_check_reports_unreadable_files_without_a_traceback(
    tmp_path: Path, content: str, problem: str
) -> None:
    broken = tmp_path / "mapping.yaml"
    broken.write_text(content)
    result = runner.invoke(app, ["mapping", "check", str(broken)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "invalid" in result.stderr and problem in result.stderr


def test_cli_check_reports_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mapping", "check", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1
    assert "invalid" in result.stderr and "No such file" in result.stderr
