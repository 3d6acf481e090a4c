"""MScript: the JavaScript-like expressions in app specs evaluate exactly as JavaScript would.

Expected values in this file were computed by running the same source in
Node.js (`new Function("return (" + source + ")").call(context)`).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payment_core.mscript import (
    MAX_NESTING_DEPTH,
    MAX_SOURCE_LENGTH,
    MAX_STRING_LENGTH,
    UNDEFINED,
    Expression,
    MScriptError,
    MScriptEvaluationError,
    compile_mscript,
    to_js_string,
)
from tests.support import unavailable

NAN = math.nan
INF = math.inf

OBJECTS = {
    "reservation": [
        "id", "totalPrice", "currency", "listingId", "guestId", "checkIn", "checkOut", "approvalType",
        "rentPrice", "taxAmount", "amount", "notes", "createdAt", "updatedAt",
    ],
    "orderManagementOrder": ["id", "summary", "orderNumber", "buyerId", "items"],
    "listing": ["id", "price", "currency", "title", "status"],
    "order": ["id", "totalAmount", "buyerId"],
}  # fmt: skip

CONTEXT = {
    "reservation": {
        "id": "res_8f2c",
        "totalPrice": 249.99,
        "currency": "usd",
        "listingId": "lst_42",
        "guestId": "usr_7",
        "checkIn": "2024-07-01",
        "checkOut": "2024-07-05",
        "approvalType": "instant",
        "rentPrice": 1800,
        "taxAmount": 144,
        "amount": 35,
        "notes": None,
    },
    "orderManagementOrder": {
        "id": "omo_1",
        "summary": {"total": 5400, "currency": "eur"},
        "orderNumber": 1042,
        "buyerId": "buyer_9",
        "items": [{"sku": "A"}, {"sku": "B"}],
    },
    "listing": {"id": "lst_42", "price": 1500, "currency": "usd", "title": "Sunny loft", "status": "pending_review"},
    "order": {"id": "ord_3", "totalAmount": 12345, "buyerId": "buyer_9"},
}


def evaluate(source: str, context: dict | None = None) -> object:
    return compile_mscript(source, objects=OBJECTS).evaluate(CONTEXT if context is None else context)


def assert_same_js_value(actual: object, expected: object) -> None:
    """Compare as JS would print and compare: NaN equals NaN, -0 is not 0, true is not 1."""
    if isinstance(expected, bool) or expected is None or expected is UNDEFINED or isinstance(expected, str):
        assert type(actual) is type(expected) and actual == expected, (actual, expected)
        return
    assert isinstance(actual, (int, float)) and not isinstance(actual, bool), actual
    if math.isnan(expected):
        assert math.isnan(actual)
        return
    assert actual == expected
    assert math.copysign(1, actual) == math.copysign(1, expected), "sign of zero differs"
    assert to_js_string(actual) == to_js_string(expected)


def compile_error(source: str, objects: dict | None = None) -> MScriptError:
    with pytest.raises(MScriptError) as caught:
        compile_mscript(source, objects=OBJECTS if objects is None else objects)
    assert not isinstance(caught.value, MScriptEvaluationError)
    return caught.value


def runtime_error(source: str, context: dict | None = None) -> MScriptEvaluationError:
    expression = compile_mscript(source, objects=OBJECTS)
    with pytest.raises(MScriptEvaluationError) as caught:
        expression.evaluate(CONTEXT if context is None else context)
    return caught.value


# -- seed expressions from the app specs ------------------------------------


def test_reservation_amount_and_currency_fields_pass_through_unchanged() -> None:
    assert evaluate("this.reservation.id") == "res_8f2c"
    assert evaluate("this.reservation.totalPrice") == 249.99
    assert evaluate("this.reservation.currency") == "usd"


def test_booking_description_names_listing_guest_and_dates() -> None:
    source = (
        "`Booking for Listing: ${this.reservation.listingId}, Guest: ${this.reservation.guestId}, "
        "Dates: ${this.reservation.checkIn} to ${this.reservation.checkOut}`"
    )
    assert evaluate(source) == "Booking for Listing: lst_42, Guest: usr_7, Dates: 2024-07-01 to 2024-07-05"


@pytest.mark.parametrize(
    "status",
    ["pending", "cancelled", "declined", "PENDING_PAYMENT", "CANCELLED", "PAID", "pending_review", "denied", "usd"],
)
def test_status_literals_evaluate_to_themselves(status: str) -> None:
    assert evaluate(json.dumps(status)) == status


@pytest.mark.parametrize(("approval_type", "expected"), [("instant", "confirmed"), (0, "complete"), ("0", "confirmed")])
def test_only_numeric_zero_approval_type_completes_the_reservation(approval_type: object, expected: str) -> None:
    context = {"reservation": {**CONTEXT["reservation"], "approvalType": approval_type}}
    assert evaluate('this.reservation.approvalType === 0 ? "complete" : "confirmed"', context) == expected


def test_order_management_order_reads_nested_summary_and_formats_its_number() -> None:
    assert evaluate("this.orderManagementOrder.summary.total") == 5400
    assert evaluate("this.orderManagementOrder.summary.currency") == "eur"
    assert (
        evaluate("`Order #${this.orderManagementOrder.orderNumber} for buyerId ${this.orderManagementOrder.buyerId}`")
        == "Order #1042 for buyerId buyer_9"
    )


def test_listing_upgrade_reads_price_currency_and_title() -> None:
    assert evaluate("this.listing.price") == 1500
    assert evaluate("this.listing.currency") == "usd"
    assert evaluate("`Premium upgrade for listing ${this.listing.title}`") == "Premium upgrade for listing Sunny loft"


@pytest.mark.parametrize(
    ("status", "expected"), [("pending_review", "active"), ("draft", "draft"), ("denied", "denied")]
)
def test_listing_pending_review_becomes_active_and_other_statuses_are_kept(status: str, expected: str) -> None:
    context = {"listing": {**CONTEXT["listing"], "status": status}}
    assert evaluate('this.listing.status === "pending_review" ? "active" : this.listing.status', context) == expected


@pytest.mark.parametrize(
    ("total_amount", "expected_total"), [(12345, "123.45"), (5, "0.05"), (100, "1.00"), (1, "0.01"), (0, "0.00")]
)
def test_order_description_formats_cents_as_dollars_with_two_decimals(total_amount: int, expected_total: str) -> None:
    context = {"order": {"id": "ord_3", "totalAmount": total_amount, "buyerId": "buyer_9"}}
    assert evaluate("this.order.totalAmount", context) == total_amount
    assert (
        evaluate(
            "`Order for buyer ${this.order.buyerId} with total ${(this.order.totalAmount / 100).toFixed(2)}`", context
        )
        == f"Order for buyer buyer_9 with total {expected_total}"
    )


def test_rent_plus_tax_is_a_numeric_sum_that_stays_an_int() -> None:
    result = evaluate("this.reservation.rentPrice + this.reservation.taxAmount")
    assert result == 1944 and type(result) is int


def test_rent_plus_tax_concatenates_when_either_amount_is_a_string_as_in_js() -> None:
    context = {"reservation": {**CONTEXT["reservation"], "taxAmount": "144"}}
    assert evaluate("this.reservation.rentPrice + this.reservation.taxAmount", context) == "1800144"


def test_public_house_fee_message_includes_the_amount() -> None:
    source = "`Reservation fee for PublicHouse application, your card is charged for ${this.reservation.amount} USD`"
    assert evaluate(source) == "Reservation fee for PublicHouse application, your card is charged for 35 USD"


def test_references_list_every_object_field_read_for_dependency_tracking() -> None:
    expression = compile_mscript(
        "`${this.reservation.listingId} ${this.orderManagementOrder.summary.total} ${this.order['buyerId']}`",
        objects=OBJECTS,
    )
    assert isinstance(expression, Expression)
    assert expression.references == frozenset(
        {("reservation", "listingId"), ("orderManagementOrder", "summary"), ("order", "buyerId")}
    )
    assert compile_mscript('"PAID"', objects=OBJECTS).references == frozenset()


def test_expression_keeps_its_source_for_display() -> None:
    assert compile_mscript(" this.order.id ", objects=OBJECTS).source == " this.order.id "


def test_compiled_expression_can_be_evaluated_against_many_records() -> None:
    expression = compile_mscript("this.order.totalAmount / 100", objects=OBJECTS)
    assert [expression.evaluate({"order": {"totalAmount": cents}}) for cents in (100, 250, 5)] == [1, 2.5, 0.05]


# -- JavaScript semantics ------------------------------------------------------

JS_CASES = [
    # ToString of numbers and other values
    ('1 + ""', "1"),
    ('1.0 + ""', "1"),
    ("0.1 + 0.2", 0.30000000000000004),
    ('0.1 + 0.2 + ""', "0.30000000000000004"),
    ('1e21 + ""', "1e+21"),
    ('1e20 + ""', "100000000000000000000"),
    ('123e-20 + ""', "1.23e-18"),
    ('0.000001 + ""', "0.000001"),
    ('1e-7 + ""', "1e-7"),
    ('-0 + ""', "0"),
    ("`${-0}`", "0"),
    ('0 / 0 + ""', "NaN"),
    ('1 / 0 + ""', "Infinity"),
    ('-1 / 0 + ""', "-Infinity"),
    ('null + ""', "null"),
    ('undefined + ""', "undefined"),
    ('true + ""', "true"),
    ('"total: " + null', "total: null"),
    ('"total: " + undefined', "total: undefined"),
    ("null + 1", 1),
    ("undefined + 1", NAN),
    ("true + 1", 2),
    ('1 + 2 + "3"', "33"),
    ('"1" + 2 + 3', "123"),
    # toFixed uses the exact binary value of the double
    ("(1.005).toFixed(2)", "1.00"),
    ("(2.5).toFixed(0)", "3"),
    ("(1.45).toFixed(1)", "1.4"),
    ("(0.5).toFixed(0)", "1"),
    ("(1.5).toFixed(0)", "2"),
    ("(-2.5).toFixed(0)", "-3"),
    ("(-1.005).toFixed(2)", "-1.00"),
    ("(8.345).toFixed(2)", "8.35"),
    ("(1.255).toFixed(2)", "1.25"),
    ("(-0).toFixed(2)", "0.00"),
    ("(-0.0001).toFixed(2)", "-0.00"),
    ("(0.1).toFixed(20)", "0.10000000000000000555"),
    ("(1e21).toFixed(2)", "1e+21"),
    ("(123.456).toFixed(0)", "123"),
    ("(0 / 0).toFixed(2)", "NaN"),
    ("(10).toFixed()", "10"),
    # loose and strict equality
    ('1 == "1"', True),
    ('1 === "1"', False),
    ("null == undefined", True),
    ("null === undefined", False),
    ("null == 0", False),
    ("null >= 0", True),
    ("undefined == 0", False),
    ('"" == 0', True),
    ('"0x10" == 16', True),
    ("true == 1", True),
    ("true === 1", False),
    ("1 === 1.0", True),
    ("0 === -0", True),
    ("0 / 0 === 0 / 0", False),
    ("0 / 0 != 0 / 0", True),
    # && and || return operands
    ('0 || "fallback"', "fallback"),
    ('"" || null', None),
    ('"first" || "second"', "first"),
    ('1 && "second"', "second"),
    ('0 && "second"', 0),
    ('null && "second"', None),
    ('!""', True),
    ('!!"0"', True),
    # string comparison by UTF-16 code units, mixed types coerce
    ('"b" > "a"', True),
    ('"B" < "a"', True),
    ('"10" < "9"', True),
    ('"10" < 9', False),
    ('"abc" < "abcd"', True),
    ('"\\uFF5E" > "\\uD83D\\uDE00"', True),
    ('"a" < 1', False),
    ("undefined < 1", False),
    ("null < 1", True),
    # arithmetic: % takes the dividend's sign, division by zero, int results
    ("-7 % 3", -1),
    ("7 % -3", 1),
    ("-4 % 2", -0.0),
    ("5.5 % 2", 1.5),
    ("-5.5 % -2", -1.5),
    ("5 % 0", NAN),
    ("1 / 0", INF),
    ("-1 / 0", -INF),
    ("0 / 0", NAN),
    ("0 / -3", -0.0),
    ("1 / (0 / -3)", -INF),
    ("100 / 3", 33.333333333333336),
    ("7 / 2", 3.5),
    ("6 / 3", 2),
    ('"3" * "4"', 12),
    ('"3" - 1', 2),
    ('-" 12 "', -12),
    ('+""', 0),
    ('+"1e3"', 1000),
    ('+"abc"', NAN),
    ("9007199254740992 + 1", 9007199254740992),
    ("123456789 * 987654321", 1.2193263111263526e17),
    # allow-listed methods and .length
    ('"Hello".toUpperCase()', "HELLO"),
    ('"Hello".toLowerCase()', "hello"),
    ('"  hi  ".trim()', "hi"),
    ('"pending_review".includes("review")', True),
    ('"pending_review".startsWith("pending")', True),
    ('"pending_review".endsWith("view")', True),
    ('"abcdef".slice(1, 3)', "bc"),
    ('"abcdef".slice(-2)', "ef"),
    ('"7".padStart(3, "0")', "007"),
    ('"7".padStart(3)', "  7"),
    ('"abc".length', 3),
    ('"\\uD83D\\uDE00".length', 2),
    ("(12).toString()", "12"),
    ("true.toString()", "true"),
    ('"ß".toUpperCase()', "SS"),
    # precedence, ternary associativity, templates, escapes
    ('1 ? "a" : 0 ? "b" : "c"', "a"),
    ('0 ? "a" : 0 ? "b" : "c"', "c"),
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 2 - 3", 5),
    ("2 * 3 % 4", 2),
    ("1 < 2 === true", True),
    ('`a${1 + 1}b${`c${"d".toUpperCase()}`}e`', "a2bcDe"),
    ("'it\\'s'", "it's"),
    ('"tab\\there"', "tab\there"),
    ('"\\u0041\\x42"', "AB"),
]


@pytest.mark.parametrize(("source", "expected"), JS_CASES, ids=[case[0] for case in JS_CASES])
def test_expression_evaluates_exactly_as_javascript(source: str, expected: object) -> None:
    assert_same_js_value(evaluate(source), expected)


def test_missing_keys_read_as_undefined_and_undefined_is_distinct_from_null() -> None:
    assert evaluate("this.orderManagementOrder.summary.discount") is UNDEFINED
    assert evaluate("this.reservation.notes") is None
    assert evaluate("this.reservation.notes == this.orderManagementOrder.summary.discount") is True
    assert evaluate("this.reservation.notes === this.orderManagementOrder.summary.discount") is False
    assert evaluate('this.reservation.notes || "no notes"') == "no notes"


def test_arrays_and_objects_stringify_as_javascript_does() -> None:
    context = {"orderManagementOrder": {"items": [1, "a", None, [2, 3]], "summary": {"total": 1}}}
    assert evaluate("`${this.orderManagementOrder.items}`", context) == "1,a,,2,3"
    assert evaluate('this.orderManagementOrder.summary + ""', context) == "[object Object]"
    assert evaluate("this.orderManagementOrder.items.length", context) == 4
    assert evaluate("this.orderManagementOrder.items[3][1]", context) == 3


def test_same_json_object_is_strictly_equal_to_itself_only() -> None:
    assert evaluate("this.orderManagementOrder.summary === this.orderManagementOrder.summary") is True
    assert evaluate("this.orderManagementOrder.summary === this.orderManagementOrder.items") is False


def test_bracket_access_with_a_string_literal_works_like_dot_access() -> None:
    assert evaluate('this["order"]["totalAmount"]') == 12345
    assert evaluate('this.orderManagementOrder.summary["currency"]') == "eur"
    assert compile_mscript('this.order["buyerId"]', objects=OBJECTS).references == {("order", "buyerId")}


def test_short_circuit_skips_the_side_that_would_throw() -> None:
    assert evaluate("this.reservation.notes && this.reservation.notes.length") is None
    assert evaluate('this.reservation.notes ? this.reservation.notes.trim() : "none"') == "none"


def test_to_js_string_formats_results_like_javascript_string() -> None:
    assert [to_js_string(value) for value in (-0.0, NAN, INF, 1e21, 1.0, UNDEFINED, None, True)] == [
        "0", "NaN", "Infinity", "1e+21", "1", "undefined", "null", "true",
    ]  # fmt: skip


# -- load-time rejection -------------------------------------------------------


def test_unknown_object_is_rejected_with_the_declared_objects_listed() -> None:
    error = compile_error("this.reservaton.id")
    assert "Unknown object 'reservaton'" in str(error)
    assert "reservation" in str(error) and error.position == 5


def test_undeclared_field_is_rejected_with_its_position() -> None:
    error = compile_error("this.reservation.totalPrise + 1")
    assert "Unknown field 'totalPrise' on object 'reservation'" in error.message
    assert error.position == 17
    assert "at position 17" in str(error) and "totalPrise" in str(error)


def test_this_must_name_an_object_and_a_field() -> None:
    assert "object name" in compile_error("this").message
    assert "field name" in compile_error("this.reservation").message
    assert "field name" in compile_error("this.reservation + 1").message


@pytest.mark.parametrize(
    "source",
    [
        "this.__class__.id",
        "this.reservation.__class__",
        "this.reservation.id.__class__",
        "this.reservation.id.__proto__",
        "this.reservation.id.__globals__",
        "this.reservation.id.constructor",
        "this.orderManagementOrder.summary.prototype",
        'this.reservation.id["constructor"]',
        'this["__proto__"].id',
        'this.order["__defineGetter__"]',
        '"abc".constructor',
        '"abc"["__class__"]',
        "this.reservation.id.__defineGetter__()",
        "this.reservation.id.constructor.constructor('return 1')()",
        "`${this.reservation.id.__class__}`",
        "eval",
        "eval('1')",
        "Function",
        "Function('return 1')()",
        "(1).__class__",
        "this.reservation.id.toString.call",
    ],
)
def test_hostile_names_are_rejected_wherever_they_appear(source: str) -> None:
    error = compile_error(source)
    assert "not allowed" in error.message, error.message
    assert error.position is not None


def test_hostile_names_are_rejected_even_when_declared_as_objects_or_fields() -> None:
    objects = {"__builtins__": ["id"], "order": ["constructor", "__dict__"]}
    assert "not allowed" in compile_error("this.__builtins__.id", objects).message
    assert "not allowed" in compile_error("this.order.constructor", objects).message
    assert "not allowed" in compile_error("this.order.__dict__", objects).message


def test_unknown_method_is_rejected_at_load_with_the_allowed_list() -> None:
    error = compile_error("this.reservation.currency.replace('u', 'x')")
    assert "Unknown method 'replace'" in error.message and "toUpperCase" in error.message
    assert error.position == 26


@pytest.mark.parametrize(
    ("source", "position", "fragment"),
    [
        ("1 +", 3, "end of the expression"),
        ("(1 + 2", 6, "')'"),
        ("1 + 2)", 5, "Unmatched ')'"),
        ('"unterminated', 0, "Unterminated string"),
        ("`unterminated ${1}", 0, "Unterminated template"),
        ("this.reservation.id = 1", 20, "Assignment"),
        ("x => 1", 0, "Unknown name 'x'"),
        ("(1) => 1", 4, "Arrow functions"),
        ("1; 2", 1, "single expression"),
        ("1, 2", 1, "Comma"),
        ("/ab+c/", 0, "Regular expression"),
        ("new Date()", 0, "'new' is not supported"),
        ("reservation.id", 0, "Unknown name 'reservation'"),
        ("this.reservation[this.reservation.id]", 16, "Computed property access"),
        ("`a${}b`", 4, "empty"),
        ("1 2", 2, "number 2"),
        ("0x10", 1, "only decimal numbers"),
        ("'\\1'", 1, "Octal escape"),
        ("this.reservation.notes ?? 'none'", 23, "'??'"),
        ("this.reservation?.id", 16, "Optional chaining"),
        ("this.reservation.id.trim", None, None),
        ("[1, 2]", 0, "Array literals"),
        ("{a: 1}", 0, "Object literals"),
        ("2 ** 3", 2, "'**'"),
        ("this.reservation.id++", 19, "Increment"),
        ("'a' in this.order.id", 4, "'in'"),
        ("this.reservation.id()", 19, "cannot be called"),
        ("(1)(2)", 3, "Only methods can be called"),
        ("1 @ 2", 2, "Unexpected character '@'"),
    ],
)
def test_syntax_errors_name_what_is_wrong_and_where(source: str, position: int | None, fragment: str | None) -> None:
    if fragment is None:
        compile_mscript(source, objects=OBJECTS)  # reading a method without calling it is not a syntax error
        return
    error = compile_error(source)
    assert fragment in error.message, error.message
    assert error.position == position
    assert f"at position {position}" in str(error) and str(error).endswith(".")


def test_errors_are_value_errors_with_message_and_position_attributes() -> None:
    error = compile_error("this.order.nope")
    assert isinstance(error, ValueError)
    assert isinstance(error.message, str) and isinstance(error.position, int)
    assert issubclass(MScriptEvaluationError, MScriptError)


def test_over_long_source_is_rejected_before_parsing() -> None:
    error = compile_error('"' + "a" * MAX_SOURCE_LENGTH + '"')
    assert f"limit of {MAX_SOURCE_LENGTH}" in str(error)
    compile_mscript('"' + "a" * (MAX_SOURCE_LENGTH - 2) + '"', objects=OBJECTS)


@pytest.mark.parametrize(
    "make_source",
    [
        lambda n: "(" * n + "1" + ")" * n,
        lambda n: "!" * n + "1",
        lambda n: "`${" * n + "1" + "}`" * n,
        lambda n: "1 ? " * n + "1" + " : 1" * n,
        lambda n: "'a'.padStart(" * n + "1" + ")" * n,
    ],
    ids=["parentheses", "prefix operators", "templates", "ternaries", "call arguments"],
)
def test_nesting_deeper_than_the_limit_is_rejected(make_source) -> None:
    assert compile_mscript(make_source(MAX_NESTING_DEPTH), objects=OBJECTS) is not None
    error = compile_error(make_source(MAX_NESTING_DEPTH + 1))
    assert f"more than {MAX_NESTING_DEPTH} levels deep" in str(error)


def test_expression_with_too_many_parts_is_rejected() -> None:
    assert "too large" in compile_error(" + ".join(["1"] * 400)).message


def test_worst_case_nesting_within_limits_compiles_and_evaluates() -> None:
    source = "1"
    for _ in range(MAX_NESTING_DEPTH - 1):
        source = f"1 || 1 && 1 == 1 < 1 + 1 * -({source})"
    assert compile_mscript(source, objects=OBJECTS).evaluate({}) == 1


# -- runtime errors and evaluation limits ---------------------------------------


def test_reading_a_member_of_null_fails_like_javascript() -> None:
    error = runtime_error("this.reservation.notes.length")
    assert "Cannot read property 'length' of null" in str(error)
    assert error.position == 23 and "near 'length'" in str(error)


def test_reading_a_member_of_undefined_fails_like_javascript() -> None:
    assert "of undefined" in runtime_error("this.orderManagementOrder.summary.discount.amount").message


def test_calling_a_method_on_the_wrong_type_fails_at_runtime() -> None:
    assert "toFixed() cannot be called on a string" in runtime_error("this.reservation.currency.toFixed(2)").message
    assert "toUpperCase() cannot be called on a number" in runtime_error("this.order.totalAmount.toUpperCase()").message
    assert "of null" in runtime_error("this.reservation.notes.trim()").message


def test_to_fixed_digits_out_of_range_fail_like_javascript_range_error() -> None:
    assert "between 0 and 100" in runtime_error("(1).toFixed(101)").message
    assert "between 0 and 100" in runtime_error("(1).toFixed(-1)").message


def test_missing_object_in_context_is_reported_by_name() -> None:
    assert "'listing' is missing" in runtime_error("this.listing.price", {"order": {}}).message


def test_context_values_that_are_not_json_like_are_refused_not_introspected() -> None:
    assert "not JSON-like" in runtime_error("this.order.id", {"order": SimpleNamespace(id="x")}).message
    context = {"order": {"id": SimpleNamespace(upper=lambda: "pwned")}}
    assert "not JSON-like" in runtime_error("this.order.id.toUpperCase()", context).message


def test_string_growth_beyond_the_limit_is_stopped() -> None:
    assert f"limit of {MAX_STRING_LENGTH}" in runtime_error("'x'.padStart(1000000000, 'ab')").message
    context = {"reservation": {"notes": "n" * (MAX_STRING_LENGTH // 2 + 1)}}
    assert evaluate("this.reservation.notes.length", context) == MAX_STRING_LENGTH // 2 + 1
    assert "limit" in runtime_error("this.reservation.notes + this.reservation.notes", context).message
    assert "limit" in runtime_error("`${this.reservation.notes}${this.reservation.notes}`", context).message


def test_evaluation_steps_are_bounded_even_for_huge_or_cyclic_context_values() -> None:
    huge = {"orderManagementOrder": {"items": list(range(200_000))}}
    assert "steps" in runtime_error("this.orderManagementOrder.items.includes(-1)", huge).message
    cyclic: list = []
    cyclic.append(cyclic)
    assert (
        "nested more than"
        in runtime_error("`${this.orderManagementOrder.items}`", {"orderManagementOrder": {"items": cyclic}}).message
    )


def test_evaluation_errors_are_mscript_errors_and_value_errors() -> None:
    error = runtime_error("this.reservation.notes.length")
    assert isinstance(error, MScriptError) and isinstance(error, ValueError)


# -- robustness ----------------------------------------------------------------

_MSCRIPT_FRAGMENTS = [
    "this", ".", "reservation", "order", "id", "totalAmount", "notes", "[", "]", "(", ")", "${", "}", "`", "'", '"',
    "\\", "0", "1.5", "1e3", "+", "-", "*", "/", "%", "!", "?", ":", "===", "==", "<=", "&&", "||", ",", " ",
    "toFixed", "padStart", "length", "null", "undefined", "true", "__proto__", "constructor", "?.", "=", ";", "\n",
]  # fmt: skip


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_only_ever_raises_mscript_error(source: str) -> None:
    try:
        compile_mscript(source, objects=OBJECTS)
    except MScriptError:
        pass


@settings(max_examples=500, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_MSCRIPT_FRAGMENTS), max_size=60).map("".join))
def test_mscript_like_token_soup_compiles_or_fails_cleanly_and_evaluates_safely(source: str) -> None:
    try:
        expression = compile_mscript(source, objects=OBJECTS)
    except MScriptError:
        return
    try:
        expression.evaluate(CONTEXT)
    except MScriptEvaluationError:
        pass


@settings(max_examples=20, deadline=2000)
@given(st.sampled_from(["(", "!", "`${", "1 ? ", "'", "this.", "1 + ", "-(", "["]))
def test_maximum_length_pathological_input_fails_fast(unit: str) -> None:
    source = (unit * MAX_SOURCE_LENGTH)[:MAX_SOURCE_LENGTH]
    with pytest.raises(MScriptError):
        compile_mscript(source, objects=OBJECTS)


# -- differential check against a real JavaScript engine ------------------------

_DIFF_CONTEXT = {
    "o": {
        "s": "Hello World", "e": "", "n": 42, "f": 1.5, "z": 0, "neg": -7, "big": 1e21, "tiny": 1e-7, "t": True,
        "fa": False, "nu": None, "arr": [1, "a", None, [2, 3]], "obj": {"a": 1, "b": {"c": "x"}}, "numstr": " 12 ",
        "emoji": "a\U0001f600b", "cents": 12345, "dec": 1.005,
    }
}  # fmt: skip
_DIFF_ATOMS = [
    "0", "1", "7", "100", "0.1", "1.005", "2.5", "1e21", "1e-7", "123.456", "9007199254740993", '""', '"abc"', '"1"',
    '" 1 "', '"0x10"', '"Infinity"', '"B"', '"b"', '"10"', '"9"', "true", "false", "null", "undefined",
    *[f"this.o.{name}" for name in _DIFF_CONTEXT["o"]], "this.o.obj.b.c", "this.o.arr[3]", "this.o.emoji.length",
]  # fmt: skip
_DIFF_OPERATORS = ["+", "-", "*", "/", "%", "===", "!==", "==", "!=", "<", ">", "<=", ">=", "&&", "||"]


def _random_expression(rng: random.Random, depth: int) -> str:
    if depth == 0:
        return rng.choice(_DIFF_ATOMS)
    inner = _random_expression(rng, depth - 1)
    roll = rng.random()
    if roll < 0.35:
        return f"{inner} {rng.choice(_DIFF_OPERATORS)} {_random_expression(rng, depth - 1)}"
    if roll < 0.45:
        return f"{rng.choice('!-+')} {inner}"
    if roll < 0.55:
        return f"{inner} ? {_random_expression(rng, depth - 1)} : {_random_expression(rng, depth - 1)}"
    if roll < 0.65:
        return f"`a${{{inner}}}b`"
    if roll < 0.75:
        return f"(+({inner})).toFixed({rng.choice([0, 1, 2, 3, 20])})"
    if roll < 0.9:
        method = rng.choice(["toUpperCase()", "trim()", "slice(1, -1)", "padStart(6, '*')", "includes('1')", "length"])
        return f'("" + {inner}).{method}'
    return f"({inner})"


def _encode_for_comparison(value: object) -> list:
    if value is UNDEFINED:
        return ["undefined"]
    if isinstance(value, float) and value == 0 and math.copysign(1, value) < 0:
        return ["number", "-0"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ["number", to_js_string(value)]
    if isinstance(value, (dict, list)):
        return ["object", value]
    return [type(value).__name__, value]


def test_random_expressions_agree_with_node() -> None:
    if shutil.which("node") is None:  # the reference is JavaScript itself
        unavailable("Node.js is not installed: MScript cannot be compared with JavaScript")
    rng = random.Random(20240701)
    sources = [_random_expression(rng, rng.randint(1, 4)) for _ in range(1500)]
    ours = []
    for source in sources:
        try:
            ours.append(
                _encode_for_comparison(
                    compile_mscript(source, objects={"o": _DIFF_CONTEXT["o"]}).evaluate(_DIFF_CONTEXT)
                )
            )
        except MScriptEvaluationError:
            ours.append(["error"])
    script = """
    const {ctx, sources} = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const encode = (v) => v === undefined ? ["undefined"] : v === null ? ["NoneType", null]
      : typeof v === "number" ? ["number", Object.is(v, -0) ? "-0" : String(v)]
      : typeof v === "boolean" ? ["bool", v] : typeof v === "string" ? ["str", v] : ["object", v];
    console.log(JSON.stringify(sources.map((s) => {
      try { return encode(new Function("return (" + s + ")").call(ctx)); } catch (e) { return ["error"]; }
    })));
    """
    completed = subprocess.run(
        ["node", "-e", script],
        input=json.dumps({"ctx": _DIFF_CONTEXT, "sources": sources}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    theirs = json.loads(completed.stdout)
    mismatches = [(s, o, t) for s, o, t in zip(sources, ours, theirs) if o != t]
    assert mismatches == []
