"""A buyer signs in to the chat through their OpenID provider — the real `oidc-provider` from npm
on loopback (tests/oidc), not a mock — with the authorization code flow and PKCE, in Chromium:
sign in on the provider's page, chat, pay, sign out; a session renewed before its token expires;
an expired token mid-chat asks to sign in again and comes back to the same conversation.

orderpay runs with its development sign-in off (an external issuer's JWKS is configured) and
trusts the provider's JWT access tokens for the audience `AUDIENCE`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from orderpay import create_server
from payment_core.settings import Settings
from tests.oidc_support import Account, OidcProvider, start_oidc_provider
from tests.payments.helpers import order_app
from tests.support import LiveServer, free_port, start_uvicorn
from tests.web.browser import CARD_4242, ask, enter_new_card, open_checkout, pay_now, payment_card, wait_paid

AUDIENCE = "https://orderpay.test/api"
CLIENT_ID = "orderpay-web"
STORE = order_app("store")


@contextmanager
def system(tmp_path: Path, *, token_ttl: int, refresh_tokens: bool,
           others: tuple[Account, ...] = ()) -> Iterator[tuple[LiveServer, OidcProvider, Account]]:
    """The provider with one buyer (and `others`) and the web UI registered as a public client, and
    orderpay trusting it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    buyer = Account(email="bea@example.com", name="Bea Buyer", password="bea-pass")
    client = {"client_id": CLIENT_ID, "token_endpoint_auth_method": "none", "response_types": ["code"],
              "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [f"{base}/auth/callback"],
              "post_logout_redirect_uris": [f"{base}/"]}
    with start_oidc_provider(accounts=[buyer, *others], clients=[client], defaultResource=AUDIENCE, audience=AUDIENCE,
                             accessTokenTtl=token_ttl, refreshTokens=refresh_tokens) as idp:
        settings = Settings(app="store", data_dir=tmp_path / "data", port=port, public_url=base, demo_data=False,
                            log_json=False, payment_attempts_per_minute=1000,
                            auth_issuer=idp.issuer, auth_jwks_url=idp.jwks_url, auth_audience=AUDIENCE,
                            oidc_client_id=CLIENT_ID)
        app = create_server(settings)
        server, thread = start_uvicorn(app, port)
        live = LiveServer(settings, create_server, app, server, thread, base)
        try:
            yield live, idp, buyer
        finally:
            live.stop()


def sign_in_at_provider(page: Any, server: LiveServer, idp: OidcProvider, buyer: Account) -> None:
    page.goto(server.base_url + "/")
    assert page.get_by_label("Password").is_hidden()  # no development sign-in here
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{idp.issuer}/**")  # the provider's own sign-in page
    page.get_by_label("Email").fill(buyer.email)
    page.get_by_label("Password").fill(buyer.password or "")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Message").wait_for()
    assert page.url == server.base_url + "/", "the code and state are gone from the address bar"


def page_session(page: Any) -> dict[str, Any]:
    return page.evaluate("() => JSON.parse(sessionStorage.getItem('orderpay-session'))")


def buyer_api(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def new_order(server: LiveServer, token: str) -> dict[str, Any]:
    """The shop's order of the signed-in buyer (made over REST with the buyer's own token)."""
    with buyer_api(server, token) as api:
        answer = api.post(f"{STORE.prefix}/v1/{STORE.plural}", json=STORE.body)
        assert answer.status_code == 201, answer.text
        return answer.json()[STORE.name]


def read(server: LiveServer, token: str, order_id: str) -> dict[str, Any]:
    with buyer_api(server, token) as api:
        answer = api.get(f"{STORE.prefix}/v1/{STORE.plural}/{order_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()[STORE.name]


def test_sign_in_chat_pay_and_sign_out_through_the_openid_provider(page: Any, tmp_path: Path, shot: Callable) -> None:
    with system(tmp_path, token_ttl=3600, refresh_tokens=True) as (server, idp, buyer):
        sign_in_at_provider(page, server, idp, buyer)
        assert page.locator("#account-name").inner_text() == "Bea Buyer"
        session = page_session(page)
        assert session["method"] == "oidc" and session["refreshable"] is True
        # The refresh token never reaches the page: only an HttpOnly cookie for /auth/oidc holds it.
        assert "refresh" not in {key.lower() for key in session} - {"refreshable"}
        cookie = next(c for c in page.context.cookies() if c["name"] == "orderpay_oidc_refresh")
        assert cookie["httpOnly"] and cookie["path"] == "/auth/oidc" and cookie["sameSite"] == "Strict"
        with buyer_api(server, session["token"]) as api:
            me = api.get("/auth/me").json()
        assert me["userId"] == buyer.sub and me["email"] == buyer.email

        order = new_order(server, session["token"])
        answer = ask(page, "Please pay my latest unpaid order")
        card = payment_card(answer)
        assert card.get_attribute("data-order-id") == order["id"]
        open_checkout(card)
        enter_new_card(card, CARD_4242, holder="Bea Buyer")
        pay_now(card)
        wait_paid(card)
        shot(page, "paid")
        assert read(server, session["token"], order["id"])["_paymentConfirmation"] == "paid"

        # Sign out: here and at the provider (its end_session_endpoint asks to confirm).
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{idp.issuer}/**")
        page.get_by_role("button", name="Yes, sign me out").click()
        page.wait_for_url(server.base_url + "/")
        page.get_by_role("button", name="Sign in", exact=True).wait_for()
        assert page.evaluate("() => sessionStorage.getItem('orderpay-session')") is None
        assert not [c for c in page.context.cookies() if c["name"] == "orderpay_oidc_refresh"]
        # The provider forgot the sign-in too: signing in asks for the password again.
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{idp.issuer}/**")
        page.get_by_label("Password").wait_for()


def test_the_session_is_renewed_before_its_token_expires(page: Any, tmp_path: Path) -> None:
    with system(tmp_path, token_ttl=10, refresh_tokens=True) as (server, idp, buyer):
        sign_in_at_provider(page, server, idp, buyer)
        first = page_session(page)["token"]
        page.wait_for_function("(first) => JSON.parse(sessionStorage.getItem('orderpay-session')).token !== first",
                               arg=first, timeout=20000)
        renewed = page_session(page)
        assert renewed["method"] == "oidc" and renewed["token"] != first
        answer = ask(page, "help")  # the chat goes on with the renewed token
        assert answer.get_attribute("data-state") == "done"


def test_an_expired_token_mid_chat_asks_to_sign_in_again_and_keeps_the_conversation(page: Any, tmp_path: Path,
                                                                                     shot: Callable) -> None:
    # No refresh tokens: when the access token expires, the only way on is to sign in again.
    with system(tmp_path, token_ttl=2, refresh_tokens=False) as (server, idp, buyer):
        sign_in_at_provider(page, server, idp, buyer)
        signed_in_at = time.monotonic()
        first = ask(page, "help")
        first_text = first.inner_text()
        conversation = page.url.split("conversationId=")[1]
        # The token lived 2 s; the APIs allow 30 s of clock skew. Past that, it is refused.
        time.sleep(max(0.0, 34 - (time.monotonic() - signed_in_at)))
        page.get_by_label("Message").fill("show my orders")
        page.get_by_label("Message").press("Enter")
        prompt = page.get_by_role("alert").filter(has_text="Your session has ended")
        prompt.wait_for()
        shot(page, "expired")
        assert page.locator("li.message.assistant").first.inner_text() == first_text  # still on the page

        # The provider still knows the buyer: signing in again comes straight back, to this conversation.
        assert page.evaluate("() => sessionStorage.getItem('orderpay-session')") is None  # the dead token is dropped
        page.get_by_role("button", name="Sign in again").click()
        page.wait_for_function("() => sessionStorage.getItem('orderpay-session') !== null", timeout=15000)
        page.wait_for_url(f"{server.base_url}/?conversationId={conversation}")
        assert page.get_by_role("alert").filter(has_text="Your session has ended").count() == 0
        page.get_by_label("Message").wait_for()
        page.locator("li.message.assistant").first.wait_for()
        assert first_text.strip().splitlines()[0] in page.locator("li.message.assistant").first.inner_text()
        assert page_session(page)["token"]
        again = ask(page, "show my orders")
        assert again.get_attribute("data-state") == "done"


def test_a_sign_in_callback_not_started_in_this_tab_is_refused(page: Any, tmp_path: Path) -> None:
    """A code pushed at the buyer (login CSRF) is not exchanged: its `state` is not this tab's."""
    with system(tmp_path, token_ttl=3600, refresh_tokens=True) as (server, _idp, _buyer):
        page.goto(server.base_url + "/auth/callback?code=forged&state=forged")
        page.get_by_text("This sign-in was not started from this tab").wait_for()
        assert page.evaluate("() => sessionStorage.getItem('orderpay-session')") is None
        with httpx.Client(base_url=server.base_url) as anonymous:
            refused = anonymous.post("/auth/oidc/refresh", json={})
            forged = anonymous.post("/auth/oidc/token", json={"code": "forged", "codeVerifier": "v" * 43})
        assert refused.status_code == 401 and refused.json()["result"] == "ERR"
        assert forged.status_code == 401 and forged.json()["result"] == "ERR" and "refused" in forged.json()["message"]


def test_an_administrator_signs_in_to_the_admin_page_through_the_openid_provider(page: Any, tmp_path: Path) -> None:
    """With an OpenID provider there is no password form on the admin page either: its Sign in goes to
    the provider, which sends the administrator back to the chat's callback and from there to /admin."""
    admin = Account(email="ada@example.com", name="Ada Admin", roles=["superAdmin"], password="ada-pass")
    with system(tmp_path, token_ttl=3600, refresh_tokens=True, others=(admin,)) as (server, idp, buyer):
        page.goto(server.base_url + "/admin")
        assert page.get_by_label("Password").is_hidden()
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{idp.issuer}/**")
        page.get_by_label("Email").fill(admin.email)
        page.get_by_label("Password").fill(admin.password or "")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(server.base_url + "/admin")
        page.locator("#admin").wait_for()
        assert page.locator("#account-name").inner_text() == "Ada Admin"
        assert "?code=" not in page.url and page.locator("#signin").is_hidden()
        page.get_by_role("heading", name="Refund requests").wait_for()
        assert page.locator("#admin-message").inner_text() == ""  # the API answered: an administrator
