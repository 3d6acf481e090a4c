"""One set of secret patterns (`payment_core.redaction`) keeps every kind of secret out of a log line
(`payment_core.logs`) and out of what a model or the chat UI is shown (`bff.scrub`): money rule 4."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bff.scrub import _scrub, scrub_text, scrub_value
from payment_core.logs import configure_logging, redact
from payment_core.redaction import _PATTERNS, KINDS, kinds_in

# One example of each kind, and the part of it that must never be seen.
SECRETS = {
    "pay_link": ("https://shop.example/pay/djIuMTc2NDY1.c2lnbmF0dXJl", "djIuMTc2NDY1.c2lnbmF0dXJl"),
    "parameter": ("/auth/callback?code=1&access_token=at-0123456789", "at-0123456789"),
    "authorization": ("Authorization: Bearer opaque-token-0123456789", "opaque-token-0123456789"),
    "jwt": ('{"token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"}', "eyJhbGciOiJSUzI1NiJ9"),
    "client_secret": ("clientSecret pi_3PqRsTuV_secret_tUvWxYz0123", "tUvWxYz0123"),
    "webhook_secret": ("signing with whsec_AbCdEf0123456789", "AbCdEf0123456789"),
    "api_key": ("charged with sk_live_51HxYzAbCdEf", "51HxYzAbCdEf"),
    "card_number": ("card 4242-4242-4242-4242 exp 12/30", "4242-4242-4242-4242"),
}
MORE = [  # the other spellings each kind must catch
    ("/pay/api/djIuMTc2NDY1.c2lnbmF0dXJl/start", "djIuMTc2NDY1.c2lnbmF0dXJl"),
    ("seti_1Ab_secret_Cd0123", "Cd0123"), ("pm_1Ab_secret_Ef0123", "Ef0123"), ("src_1Ab_secret_Gh0123", "Gh0123"),
    ("rk_test_Zz0123456789", "Zz0123456789"), ("Basic YWxpY2U6c2VjcmV0MTIz", "YWxpY2U6c2VjcmV0MTIz"),
    ("?CLIENT_SECRET=pi_1_secret_2&x=1", "pi_1_secret_2"), ("?api_key=ak0123&x=1", "ak0123"),
    ("password=hunter2 next", "hunter2"), ("payment_intent_client_secret=pics0123", "pics0123"), ("card 5555555555554444.", "5555555555554444"),
    ("amex 378282246310005", None),  # Amex starts with 3: a card number too
]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO")
    output = io.StringIO()
    root.handlers[0].stream = output  # type: ignore[attr-defined]
    yield output
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_of_secret_is_kept_out_of_a_log_line(kind: str, log_output: io.StringIO) -> None:
    text, secret = SECRETS[kind]
    logging.getLogger("orderpay.test").info("saw %s", text, extra={"detail": text})
    try:
        raise RuntimeError(text)
    except RuntimeError:
        logging.getLogger("orderpay.test").exception("failed")
    lines = log_output.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert secret not in line, line
        assert "[redacted]" in line
        json.loads(line)  # still one JSON object a line


@pytest.mark.parametrize("text, secret", MORE)
def test_every_spelling_is_redacted(text: str, secret: str | None) -> None:
    secret = secret or text.split()[-1]
    assert secret not in redact(text)
    assert secret not in scrub_text(text, for_model=True)
    if "/pay/" not in text:  # the chat UI shows the buyer's pay link on the payment card
        assert secret not in scrub_text(text, for_model=False)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_of_secret_is_kept_from_a_model(kind: str) -> None:
    text, secret = SECRETS[kind]
    for_model = scrub_value({"note": text, "items": [text]}, for_model=True)
    assert secret not in json.dumps(for_model)
    if kind != "pay_link":  # the chat UI shows the buyer's pay link on the payment card
        assert secret not in json.dumps(scrub_value({"note": text}, for_model=False))


def test_what_identifies_the_thing_stays_in_the_log() -> None:
    assert redact("GET /pay/djIuMTc2NDY1.c2lnbmF0dXJl") == "GET /pay/[redacted]"
    assert redact("/pay/api/djIuMTc2NDY1.c2lnbmF0dXJl/order") == "/pay/api/[redacted]/order"
    assert redact("pi_3PqRs_secret_tUvWxYz") == "pi_3PqRs_secret_[redacted]"
    assert redact("Authorization: Bearer abcdefgh123") == "Authorization: Bearer [redacted]"
    assert redact("sk_test_51HxYz and whsec_ab12") == "sk_test_[redacted] and whsec_[redacted]"
    assert redact("?code=1&client_secret=abc&state=2") == "?code=1&client_secret=[redacted]&state=2"


def test_what_is_not_a_secret_stays() -> None:
    for text in ("/pay/result", "a basic question", "Bearer of news", "order 1234567890123 of 2026-12-02T05:41:00",
                 "4242 4242 4242 4241",  # fails the Luhn check: not a card
                 "/bookingmanagement-api/v1/reservations/5f3c2a10-1b2c-4d5e-8f90-123456789abc"):
        assert redact(text) == text
        assert scrub_text(text, for_model=True) == text


def test_the_model_gets_notes_and_the_ui_keeps_its_pay_link() -> None:
    link = SECRETS["pay_link"][0]
    assert scrub_text(f"pay at {link} now", for_model=True) == "pay at [pay link, shown to the user on the payment card] now"
    assert scrub_text(f"pay at {link} now", for_model=False) == f"pay at {link} now"
    assert scrub_text("pi_3PqRs_secret_tUvWxYz", for_model=True) == "[client secret removed]"
    assert scrub_text("4242 4242 4242 4242", for_model=False) == "[card number removed]"
    assert scrub_text("Bearer abcdefgh123", for_model=True) == "Bearer [token removed]"


_FRAGMENTS = st.sampled_from(
    [text for text, _ in SECRETS.values()] + [text for text, _ in MORE]
    + ["/pay/", "pay", "=", "secret", "_secret_", "Bearer ", "eyJ", ".", "sk_", "_test_", "whsec", "4242", " ", "-",
       "1234567890", "2", "\n", "\"", "x"])


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(_FRAGMENTS | st.text(max_size=12), max_size=12).map("".join))
def test_the_fast_path_never_skips_a_secret(text: str) -> None:
    # A kind's pattern runs only on text with one of its marks; that is only right if the pattern
    # matches no text without them.
    marked = kinds_in(text)
    for kind, pattern in _PATTERNS.items():
        if pattern.search(text) is not None:
            assert kind in marked, (kind, text)


_VALUES = st.recursive(
    st.none() | st.integers() | st.lists(_FRAGMENTS | st.text(max_size=12), max_size=6).map("".join),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["note", "token", "payUrl", "__frontendAction", "items", "id"]), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=400, deadline=None, database=None)
@given(_VALUES)
def test_a_value_is_scrubbed_as_each_of_its_strings_would_be(value: object) -> None:
    # `scrub_value` asks the redactor about the whole value once (as JSON text) and leaves its
    # strings alone when it finds no mark of a secret there: that must give what redacting each
    # string gives, whatever JSON escapes in or next to a mark (quotes, backslashes, newlines).
    for for_model in (True, False):
        assert scrub_value(value, for_model=for_model) == _scrub(value, for_model, True)
