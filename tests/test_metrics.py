"""An operator watches orderpay on `/metrics`: the counters move with real payments (REST, the
embedded Stripe sandbox over HTTP, its signed webhooks), and production never shows them to
just anyone."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from payment_core.settings import Settings
from tests.payments.helpers import DECLINED, VISA, Buyer, OrderApp, eventually, order_app, payment_server
from tests.support import LiveServer, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
STORE = {"app": "store", "object": "order"}


def scrape(base_url: str, **headers: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """A counter's value: a labelled counter is exported from its first increment, so absent reads 0."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def gauge(samples: Samples, name: str, **labels: str) -> float:
    """A gauge's value: it is always exported, so an absent one fails (it would read as a silent 0)."""
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} is not exported"
    return samples[key]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, series), v in samples.items() if n == name and wanted <= series)


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from payment_server(request, tmp_path_factory, "sqlite", "store", reconcile_interval_seconds=0.2)


@pytest.fixture(scope="module")
def app() -> OrderApp:
    return order_app("store")


def test_payment_counters_move_with_a_real_payment(server: LiveServer, app: OrderApp) -> None:
    alice = Buyer(server, "alice", app)
    try:
        card = alice.save_card(VISA)["paymentMethodId"]
        order = alice.create_order()
        before = scrape(server.base_url)

        paid = alice.pay(order["id"], card)
        assert paid.status_code == 200, paid.text
        alice.wait_for_confirmation(order["id"], "paid")
        after = scrape(server.base_url)
        assert value(after, "orderpay_payments_started_total", **STORE) == value(before, "orderpay_payments_started_total", **STORE) + 1
        assert value(after, "orderpay_payments_succeeded_total", **STORE) == value(before, "orderpay_payments_succeeded_total", **STORE) + 1
        created = dict(operation="PaymentIntent.create", outcome="ok")
        assert (value(after, "orderpay_stripe_request_seconds_count", **created)
                == value(before, "orderpay_stripe_request_seconds_count", **created) + 1)
        assert value(after, "orderpay_stripe_request_seconds_sum", **created) > value(
            before, "orderpay_stripe_request_seconds_sum", **created)

        # Stripe's webhooks for it arrive on their own, and the relay delivers the payment's events.
        eventually(lambda: total(scrape(server.base_url), "orderpay_webhook_deliveries_total")
                   > total(before, "orderpay_webhook_deliveries_total"), message="no webhook delivery was counted")
        eventually(lambda: value(scrape(server.base_url), "orderpay_relay_delivered_total", app="store")
                   > value(before, "orderpay_relay_delivered_total", app="store"), message="no relay delivery counted")
        settled = eventually(lambda: (s := scrape(server.base_url)) and
                             gauge(s, "orderpay_outbox_pending", app="store") == 0 and s, message="outbox never drained")
        assert gauge(settled, "orderpay_relay_lag_seconds", app="store") == 0
        # The webhooks reported what the start already recorded: still one success, not three.
        assert value(settled, "orderpay_payments_succeeded_total", **STORE) == value(after, "orderpay_payments_succeeded_total", **STORE)

        # Paying the paid order again is refused (409) and counted as such; nothing is started.
        again = alice.pay(order["id"], card)
        assert again.status_code == 409, again.text
        refused = scrape(server.base_url)
        assert value(refused, "orderpay_payments_refused_total", reason="conflict", **STORE) == value(
            settled, "orderpay_payments_refused_total", reason="conflict", **STORE) + 1
        assert value(refused, "orderpay_payments_started_total", **STORE) == value(settled, "orderpay_payments_started_total", **STORE)
    finally:
        alice.close()


def test_a_declined_card_counts_as_a_failed_payment(server: LiveServer, app: OrderApp) -> None:
    bob = Buyer(server, "bob", app)
    try:
        card = bob.save_card(DECLINED)["paymentMethodId"]
        order = bob.create_order()
        before = scrape(server.base_url)
        answer = bob.pay(order["id"], card)
        assert answer.status_code == 200 and answer.json()["paymentResult"]["result"] == "ERR", answer.text
        after = scrape(server.base_url)
        assert value(after, "orderpay_payments_failed_total", result="failed", **STORE) == value(
            before, "orderpay_payments_failed_total", result="failed", **STORE) + 1
        assert value(after, "orderpay_payments_succeeded_total", **STORE) == value(before, "orderpay_payments_succeeded_total", **STORE)
        declined = dict(operation="PaymentIntent.create", outcome="CardError")
        assert value(after, "orderpay_stripe_request_seconds_count", **declined) == value(
            before, "orderpay_stripe_request_seconds_count", **declined) + 1
    finally:
        bob.close()


def test_the_reconcilers_sweeps_are_counted(server: LiveServer) -> None:
    before = value(scrape(server.base_url), "orderpay_reconciler_sweeps_total", app="store")
    eventually(lambda: value(scrape(server.base_url), "orderpay_reconciler_sweeps_total", app="store") >= before + 2,
               message="the reconciler's passes (every 0.2 s) were not counted")


def test_development_serves_metrics_to_loopback_without_a_token(server: LiveServer) -> None:
    text = httpx.get(f"{server.base_url}/metrics").text
    for name in ("orderpay_payments_started_total", "orderpay_webhook_deliveries_total", "orderpay_relay_retries_total",
                 "orderpay_relay_dead_letters_total", "orderpay_sse_streams_active", "process_cpu_seconds_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


# -- not public in production ---------------------------------------------------------------

def production(tmp_path: Path, **overrides: object) -> LiveServer:
    settings = Settings(app="store", data_dir=tmp_path, environment="production", log_json=False,
                        auth_issuer="https://issuer.example", auth_jwks_url="http://127.0.0.1:9/jwks",
                        pay_link_secret="s" * 32, **overrides,
                        # production never starts the sandbox; nothing here calls Stripe
                        stripe_secret_key="sk_test_unused", stripe_api_base="http://127.0.0.1:9")
    return LiveServer.start(settings)


def test_production_serves_no_metrics_without_a_token_or_listener(tmp_path: Path) -> None:
    live = production(tmp_path)
    try:
        response = httpx.get(f"{live.base_url}/metrics")  # from loopback, too
        assert response.status_code == 404
        assert response.json()["result"] == "ERR" and "orderpay_" not in response.text
    finally:
        live.stop()


def test_production_metrics_need_the_token(tmp_path: Path) -> None:
    live = production(tmp_path, metrics_token="scrape-me-scrape-me")
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2NyYXBlLW1l"}):
            refused = httpx.get(f"{live.base_url}/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
            body = refused.json()
            assert (body["result"], body["status"]) == ("ERR", 401) and "orderpay_" not in refused.text
        samples = scrape(live.base_url, Authorization="Bearer scrape-me-scrape-me")
        assert ("orderpay_outbox_pending", frozenset({("app", "store")})) in samples
    finally:
        live.stop()


def test_a_separate_metrics_listener_serves_them_and_the_main_port_does_not(tmp_path: Path) -> None:
    port = free_port()
    live = production(tmp_path, metrics_address=f"127.0.0.1:{port}")
    try:
        assert httpx.get(f"{live.base_url}/metrics").status_code == 404
        samples = scrape(f"http://127.0.0.1:{port}")
        assert ("orderpay_relay_delivered_total", frozenset({("app", "store")})) in samples
    finally:
        live.stop()
    with pytest.raises(httpx.ConnectError):  # it stops with the server
        httpx.get(f"http://127.0.0.1:{port}/metrics")


# -- the chat -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat_model() -> Iterator[tuple[object, str]]:
    from tests.bff.support import ScriptedModel, openai_app, serving

    model = ScriptedModel()
    with serving(openai_app(model)) as url:
        yield model, f"{url}/v1"


@pytest.fixture(scope="module")
def chat_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                chat_model: tuple[object, str]) -> Iterator[LiveServer]:
    from bff.settings import ChatSettings
    from tests.bff.conftest import FAST, run_chat_server

    chat = ChatSettings(chat_provider="openai", openai_base_url=chat_model[1], openai_api_key="sk-test-key",
                        openai_model="scripted", **FAST)
    yield from run_chat_server(request, tmp_path_factory, "sqlite", "store", chat)


def test_a_streamed_chat_turn_counts_its_stream_turn_and_tool_calls(chat_server: LiveServer, chat_model: tuple[object, str]) -> None:
    """A model (a local server speaking OpenAI's wire format) lists the orders, then thinks for a while
    before answering: meanwhile the stream is open and counted."""
    from tests.bff.support import Call, Pause, Say, read_frames

    model = chat_model[0]
    model.replies[:] = [[Call("listOrders", {})], [Pause(1.0), Say("You have some orders.")]]  # type: ignore[attr-defined]
    before = scrape(chat_server.base_url)
    frames = []
    during: Samples = {}
    with chat_server.client("alice") as alice, alice.stream("POST", "/api/chat/stream",
                                                            json={"message": "list my orders"}) as response:
        for frame in read_frames(response.iter_lines()):
            if frame is None:
                continue
            frames.append(frame)
            if frame.event == "tool_result":  # the model is still to answer: the stream is open
                during = scrape(chat_server.base_url)
    assert frames[-1].event == "done", frames[-1]
    assert value(during, "orderpay_sse_streams_active") == value(before, "orderpay_sse_streams_active") + 1
    assert [frame.data["tool"] for frame in frames if frame.event == "tool_result"] == ["listOrders"]

    after = eventually(lambda: (s := scrape(chat_server.base_url)) and
                       value(s, "orderpay_sse_streams_active") == value(before, "orderpay_sse_streams_active") and s)
    assert value(after, "orderpay_chat_turns_started_total") == value(before, "orderpay_chat_turns_started_total") + 1
    assert value(after, "orderpay_chat_turn_seconds_count", outcome="done") == value(
        before, "orderpay_chat_turn_seconds_count", outcome="done") + 1
    assert value(after, "orderpay_chat_turn_seconds_sum", outcome="done") - value(
        before, "orderpay_chat_turn_seconds_sum", outcome="done") >= 1.0  # the model's pause is in it
    ok = dict(tool="listOrders", outcome="ok")
    assert value(after, "orderpay_chat_tool_call_seconds_count", **ok) == value(
        before, "orderpay_chat_tool_call_seconds_count", **ok) + 1
