from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce.emulator.schema import PAYMENT_STATUSES, build_schema
from connectors.salesforce.emulator.validation import normalize

SCHEMA = build_schema({"Payment__c": ["SalesRepID__c", "Campaign_Source__c"]})
PAYMENT = SCHEMA["Payment__c"]


def codes(body: dict[str, object], creating: bool = True) -> list[str]:
    return [e.code for e in normalize(PAYMENT, body, creating=creating)[1]]


def test_canonical_names_and_values() -> None:
    values, errors = normalize(
        PAYMENT,
        {
            "status__c": "Completed",
            "amount__c": "12.50",
            "transactiondate__c": "2024-05-01T10:00:00Z",
            "salesrepid__c": "R7",
        },
        creating=True,
    )
    assert errors == []
    assert values == {
        "Status__c": "Completed",
        "Amount__c": 12.5,
        "TransactionDate__c": "2024-05-01T10:00:00.000+0000",
        "SalesRepID__c": "R7",
    }


def test_each_error_code() -> None:
    assert codes({"Amount__c": 1}) == ["REQUIRED_FIELD_MISSING"]
    assert codes({"Status__c": "Approved"}) == ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
    assert codes({"Status__c": "Completed", "Nope__c": 1}) == ["INVALID_FIELD"]
    assert codes({"Status__c": "Completed", "Last4Digits__c": "12345"}) == ["STRING_TOO_LONG"]
    assert codes({"Status__c": "Completed", "Amount__c": "ten"}) == ["JSON_PARSER_ERROR"]
    assert codes({"Status__c": "Completed", "Account__c": "nope"}) == ["MALFORMED_ID"]
    assert codes({"Status__c": "Completed", "Name": "X"}) == ["INVALID_FIELD_FOR_INSERT_UPDATE"]
    assert codes({"Status__c": None}, creating=False) == ["REQUIRED_FIELD_MISSING"]
    assert codes({"Amount__c": 3}, creating=False) == []


def test_error_messages_never_echo_a_card_number() -> None:
    _, errors = normalize(
        PAYMENT, {"Status__c": "Completed", "Last4Digits__c": "4111111111111111"}, creating=True
    )
    assert errors[0].code == "STRING_TOO_LONG"
    assert "4111111111111111" not in errors[0].message and "1111" in errors[0].message


@given(
    st.sampled_from(PAYMENT_STATUSES),
    st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False),
)
def test_every_status_and_amount_is_accepted(status: str, amount: object) -> None:
    values, errors = normalize(
        PAYMENT, {"Status__c": status, "Amount__c": str(amount)}, creating=True
    )
    assert errors == [] and values["Amount__c"] == float(str(amount))
