"""Shipped mapping templates, mapping versions and ``paystream mapping diff``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stream.cli import app
from stream.mapping import DEFAULT_MAPPING, Mapping, load_mapping
from stream.mapping_diff import describe_changes
from stream.mapping_templates import templates
from stream.mapping_version import header_version, mapping_version, version_header

runner = CliRunner()
NAMES = [t.name for t in templates()]


def edited(**changes: object) -> Mapping:
    data = yaml.safe_load(DEFAULT_MAPPING.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for key in parents:
            target = target[key]
        target[last] = value
    return Mapping.model_validate(data)


def test_the_five_kinds_are_shipped() -> None:
    titles = " ".join(t.title for t in templates()).lower()
    for kind in ("opportunity", "order", "subscription", "sage pro gl"):
        assert kind in titles
    assert sum("sage pro gl" in t.title.lower() for t in templates()) == 2


@pytest.mark.parametrize("name", NAMES)
def test_new_from_template_writes_a_file_that_passes_check(name: str, tmp_path: Path) -> None:
    target = tmp_path / f"{name}.yaml"
    made = runner.invoke(app, ["mapping", "new", "--from", name, str(target)])
    assert made.exit_code == 0, made.output
    checked = runner.invoke(app, ["mapping", "check", str(target)])
    assert checked.exit_code == 0, checked.output
    assert f"{target}: ok" in checked.output


def test_templates_are_listed_and_new_refuses_to_overwrite(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["mapping", "templates"])
    assert listed.exit_code == 0
    assert all(name in listed.output for name in NAMES)
    target = tmp_path / "m.yaml"
    target.write_text("mine")
    refused = runner.invoke(app, ["mapping", "new", "--from", NAMES[0], str(target)])
    assert refused.exit_code == 1
    assert target.read_text() == "mine"
    unknown = runner.invoke(app, ["mapping", "new", "--from", "nope", str(tmp_path / "x.yaml")])
    assert unknown.exit_code == 1
    assert "no template 'nope'" in unknown.output


def test_templates_differ_where_they_say() -> None:
    by_name = {t.name: load_mapping(t.path) for t in templates()}
    order = {t.object for t in by_name["order-collection"].collection.triggers}
    opportunity = {t.object for t in by_name["opportunity-collection"].collection.triggers}
    assert order == {"Order"}
    assert opportunity == {"Opportunity"}
    contra = by_name["sagepro-gl-contra-revenue"].sagepro.gl_accounts["refund"]
    clearing = by_name["sagepro-gl-clearing"].sagepro.gl_accounts["refund"]
    assert (contra.debit, clearing.debit) == ("4900", "1200")


def test_version_is_a_content_hash_blind_to_comments(tmp_path: Path) -> None:
    copy = tmp_path / "m.yaml"
    copy.write_text("# a comment only\n" + DEFAULT_MAPPING.read_text())
    same = load_mapping(copy)
    default = load_mapping()
    assert mapping_version(same) == mapping_version(default)
    assert len(mapping_version(default)) == 12
    changed = edited(currency="EUR")
    assert mapping_version(changed) != mapping_version(default)
    name, value = version_header(default)
    assert header_version([(name, value)]) == mapping_version(default)
    assert header_version({name: value}) == mapping_version(default)
    assert header_version([("other", b"x")]) is None


def test_diff_in_words() -> None:
    before = load_mapping()
    fields = dict(before.salesforce.fields)
    fields["Amount_Paid__c"] = fields.pop("Amount__c")
    status = {str(k): v for k, v in before.salesforce.status.items()} | {"declined": "Declined"}
    triggers = [t.model_dump() for t in before.collection.triggers][:1]
    after = edited(
        salesforce__fields=fields,
        salesforce__status=status,
        sagepro__gl_accounts__refund={"debit": "4900", "credit": "1010"},
        collection__triggers=triggers,
        currency="EUR",
    )
    lines = describe_changes(before, after)
    assert "Salesforce field Amount__c renamed to Amount_Paid__c (from 'amount')" in lines
    assert "payment status declined now writes Salesforce 'Declined' (was 'Failed')" in lines
    assert "GL account for refund debit moved from 1200 to 4900" in lines
    assert any(line.startswith("charge trigger Order.order_created removed") for line in lines)
    assert "currency changed from 'USD' to 'EUR'" in lines
    assert describe_changes(before, load_mapping()) == []


def test_diff_command(tmp_path: Path) -> None:
    other = next(t.path for t in templates() if t.name == "sagepro-gl-contra-revenue")
    result = runner.invoke(app, ["mapping", "diff", str(DEFAULT_MAPPING), str(other)])
    assert result.exit_code == 0, result.output
    assert "GL account for refund debit moved from 1200 to 4900" in result.output
    assert f"version {mapping_version(load_mapping())}" in result.output
