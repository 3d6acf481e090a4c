"""Stripe's documented test cards, the `pm_card_*` shortcuts, and the checks Stripe makes on a raw card.

As with Stripe: creating a payment method refuses only malformed data (Luhn, expiry, CVC) and non-test
numbers; attaching it to a customer checks the card, so a declining card fails there already (except
4000 0000 0000 0341, made to attach and fail when charged); charging it declines it.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass

from payment_core.luhn import luhn_valid

from . import errors


@dataclass(frozen=True)
class Decline:
    """How a charge attempt fails: the error Stripe returns and the charge's failure fields."""

    code: str
    decline_code: str
    message: str
    param: str | None = None


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT_FUNDS = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
LOST_CARD = Decline("card_declined", "lost_card", "Your card was declined.")
STOLEN_CARD = Decline("card_declined", "stolen_card", "Your card was declined.")
EXPIRED_CARD = Decline("expired_card", "expired_card", "Your card has expired.", "exp_month")
INCORRECT_CVC = Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc")
PROCESSING_ERROR = Decline(
    "processing_error", "processing_error", "An error occurred while processing your card. Try again in a little bit."
)
AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    decline: Decline | None = None
    # Needs 3-D Secure on every payment; off session that is an `authentication_required` decline.
    requires_authentication: bool = False
    # Sandbox-only behaviour: the payment stays `processing` and settles later (see docs/sandbox.md).
    settles_later: bool = False
    # Declines only when charged: attaching it to a customer succeeds (Stripe's 4000 0000 0000 0341).
    attaches: bool = False
    # The charge succeeds, then the buyer's bank disputes it as fraudulent (Stripe's 4000 0000 0000 0259).
    disputed: bool = False

    @property
    def declines_at_attach(self) -> bool:
        """Stripe checks a card when it is attached: a declining card fails there, except one made to
        attach, and a 3-D Secure card, whose decline follows the authentication of a payment."""
        return self.decline is not None and not self.requires_authentication and not self.attaches

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        # Stable per number, as Stripe's fingerprints are within one account.
        return hashlib.sha256(("fp:" + self.number).encode()).hexdigest()[:16]


_CARDS = [
    TestCard("4242424242424242", "visa"),
    TestCard("4000056655665556", "visa", funding="debit"),
    TestCard("5555555555554444", "mastercard"),
    TestCard("2223003122003222", "mastercard"),
    TestCard("5200828282828210", "mastercard", funding="debit"),
    TestCard("5105105105105100", "mastercard", funding="prepaid"),
    TestCard("378282246310005", "amex"),
    TestCard("371449635398431", "amex"),
    TestCard("6011111111111117", "discover"),
    TestCard("3056930009020004", "diners"),
    TestCard("36227206271667", "diners"),
    TestCard("3566002020360505", "jcb"),
    TestCard("6200000000000005", "unionpay"),
    TestCard("4000000000000002", "visa", decline=GENERIC_DECLINE),
    TestCard("4000000000009995", "visa", decline=INSUFFICIENT_FUNDS),
    TestCard("4000000000009987", "visa", decline=LOST_CARD),
    TestCard("4000000000009979", "visa", decline=STOLEN_CARD),
    TestCard("4000000000000069", "visa", decline=EXPIRED_CARD),
    TestCard("4000000000000127", "visa", decline=INCORRECT_CVC),
    TestCard("4000000000000119", "visa", decline=PROCESSING_ERROR),
    TestCard("4000002500003155", "visa", requires_authentication=True),
    TestCard("4000002760003184", "visa", requires_authentication=True),
    TestCard("4000000000003220", "visa", requires_authentication=True),
    TestCard("4000000000003063", "visa", requires_authentication=True),
    TestCard("4000000000003055", "visa"),
    TestCard("4000008260003178", "visa", requires_authentication=True, decline=INSUFFICIENT_FUNDS),
    TestCard("4000000000007726", "visa", settles_later=True),
    TestCard("4000000000000341", "visa", decline=GENERIC_DECLINE, attaches=True),
    TestCard("4000000000000259", "visa", disputed=True),
]

TEST_CARDS: dict[str, TestCard] = {card.number: card for card in _CARDS}

# Stripe's `pm_card_*` test payment method ids; each use materialises a new `pm_` object, as Stripe does.
TEST_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_mastercard_debit": "5200828282828210",
    "pm_card_mastercard_prepaid": "5105105105105100",
    "pm_card_amex": "378282246310005",
    "pm_card_discover": "6011111111111117",
    "pm_card_diners": "3056930009020004",
    "pm_card_jcb": "3566002020360505",
    "pm_card_unionpay": "6200000000000005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_visa_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_visa_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_visa_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_visa_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_visa_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_threeDSecureRequired": "4000000000003063",
    "pm_card_threeDSecureOptional": "4000000000003055",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
    "pm_card_processing": "4000000000007726",
}

_BRANDS = [
    ("amex", re.compile(r"^3[47]")),
    ("diners", re.compile(r"^3(0[0-5]|[689])")),
    ("jcb", re.compile(r"^35")),
    ("discover", re.compile(r"^(6011|64[4-9]|65)")),
    ("unionpay", re.compile(r"^62")),
    ("mastercard", re.compile(r"^(5[1-5]|2(22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720))")),
    ("visa", re.compile(r"^4")),
]

_LENGTHS = {"amex": (15,), "diners": (14, 16), "visa": (13, 16, 19)}


def detect_brand(number: str) -> str:
    """Brand from the leading digits, with Stripe's brand names ("unknown" when none matches)."""
    for brand, pattern in _BRANDS:
        if pattern.match(number):
            return brand
    return "unknown"




def cvc_length(brand: str) -> int:
    return 4 if brand == "amex" else 3


def validate_card(number: str, exp_month: int, exp_year: int, cvc: str | None, *, today: datetime.date | None = None) -> TestCard:
    """Check a raw card as Stripe does when a payment method is created; return its test-card behaviour."""
    today = today or datetime.date.today()
    digits = number.replace(" ", "")
    brand = detect_brand(digits)
    if (
        not digits.isdigit()
        or not luhn_valid(digits)
        or len(digits) not in _LENGTHS.get(brand, (16,))
    ):
        raise errors.card_error("Your card number is incorrect.", code="incorrect_number", param="number")
    if not 1 <= exp_month <= 12:
        raise errors.card_error("Your card's expiration month is invalid.", code="invalid_expiry_month", param="exp_month")
    if exp_year < 100:
        exp_year += 2000
    if exp_year < today.year or exp_year > today.year + 50:
        raise errors.card_error("Your card's expiration year is invalid.", code="invalid_expiry_year", param="exp_year")
    if exp_year == today.year and exp_month < today.month:
        raise errors.card_error("Your card's expiration month is invalid.", code="invalid_expiry_month", param="exp_month")
    if cvc is not None and (not cvc.isdigit() or len(cvc) != cvc_length(brand)):
        raise errors.card_error("Your card's security code is invalid.", code="invalid_cvc", param="cvc")
    card = TEST_CARDS.get(digits)
    if card is None:
        raise errors.card_error(
            "Your card was declined. Your request was in test mode, but used a non test (live) card. "
            "For a list of valid test cards, visit: https://stripe.com/docs/testing.",
            code="card_declined",
            decline_code="test_mode_live_card",
        )
    return card


def normalise_exp_year(exp_year: int) -> int:
    return exp_year + 2000 if exp_year < 100 else exp_year
