"""Three `orderpay serve` replicas behind HAProxy, sharing one PostgreSQL database and NATS, with
one standalone sandbox playing Stripe (docs/deploy.md): a buyer's turn, payment, webhook, refresh
and pay link may each land on any replica, and losing a replica loses nothing.

Selected with `-m replicas`; runs in CI (HAProxy, PostgreSQL and NATS are required there and
skipped with the reason elsewhere). The figures it measures are written to
test-artifacts/deploy/figures.json and quoted in docs/deploy.md.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from payment_core.identity import Session
from payment_core.spec.loader import bundled_spec_path
from tests.bff.support import Frame, Pause, Say, ScriptedModel, openai_app, read_frames, serving
from tests.deploy.cluster import SANDBOX_PUBLISHABLE_KEY, SANDBOX_SECRET_KEY, Cluster, start_cluster, wait_until
from tests.support import drop_postgres, postgres_problem, run_async, session_postgres_url, unavailable

pytestmark = pytest.mark.replicas

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "deploy"
CODENAME = "deploytest"  # topics of their own: no other test's JetStream stream overlaps them
PREFIX = "/ordermanagement-api"
ORDERS = f"{PREFIX}/v1/orders"
LIMIT = 5
VISA = "4242424242424242"
PROCESSING = "4000000000007726"  # `processing` first; the sandbox settles it two seconds later
DIFFERENT_CARDS = ["4242424242424242", "4000056655665556", "5555555555554444", "2223003122003222",
                   "5200828282828210", "3566002020360505", "6011111111111117"]  # LIMIT + 2 of them
EDGE_TOPICS = {f"{CODENAME}-ordermanagement-service-orderpayment-{e}" for e in ("started", "refreshed", "calledback")}


@pytest.fixture(scope="module")
def model() -> Iterator[tuple[ScriptedModel, str]]:
    """The language model every replica talks to: scripted, so a turn can be made slow."""
    scripted = ScriptedModel()
    with serving(openai_app(scripted)) as url:
        yield scripted, url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, nats_url: str,
            model: tuple[ScriptedModel, str]) -> Iterator[Cluster]:
    database_url = session_postgres_url() + "_replicas"
    problem = postgres_problem(database_url)
    if problem:
        unavailable(problem)
    workdir = tmp_path_factory.mktemp("replicas")
    spec = workdir / "store-replicas.yaml"
    spec.write_text(bundled_spec_path("store").read_text()
                    .replace("codename: store\n", f"codename: {CODENAME}\n", 1)
                    .replace("            orderName: order\n",
                             "            orderName: order\n"
                             "            edgeFunctionOnStatusChange: tests.deploy.edge_hook.post_event\n", 1))
    stream = f"orderpay-{CODENAME}-{uuid.uuid4().hex[:8]}"
    run_async(_drop_streams(nats_url, f"{CODENAME}-"))
    started = time.monotonic()
    cluster = start_cluster(workdir, spec=spec, database_url=database_url, nats_url=nats_url, stream=stream,
                            webhook_path=f"{PREFIX}/stripe-webhook", attempts_per_minute=LIMIT, model_url=model[1])
    cluster.figures["clusterStartSeconds"] = round(time.monotonic() - started, 2)
    cluster.figures["stream"] = stream
    try:
        yield cluster
    finally:
        cluster.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "figures.json").write_text(json.dumps(cluster.figures, indent=2))
        for name in ("r1", "r2", "r3", "sandbox", "haproxy"):
            process = cluster.replicas.get(name) or {"sandbox": cluster.sandbox, "haproxy": cluster.haproxy}.get(name)
            if process is not None:
                (ARTIFACTS / f"{name}.log").write_text(process.output())
        run_async(_drop_streams(nats_url, f"{CODENAME}-"))
        drop_postgres(database_url)


async def _drop_streams(url: str, subject_prefix: str) -> None:
    import nats

    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        for info in await js.streams_info():
            if any(subject.startswith(subject_prefix) for subject in info.config.subjects or ()):
                await js.delete_stream(info.config.name)
    finally:
        await connection.close()


# -- a buyer's side ---------------------------------------------------------------------------

def new_buyer(name: str) -> Session:
    return Session(user_id=str(uuid.uuid4()), email=f"{name}@example.com", full_name=name.title(), roles=())


def new_card(cluster: Cluster, number: str = VISA) -> str:
    """What Stripe.js gives the browser: a pm_ id, created at the (shared) sandbox with the publishable key."""
    browser = stripe.StripeClient(SANDBOX_PUBLISHABLE_KEY, base_addresses={"api": cluster.stripe_hop.target},
                                  max_network_retries=0)
    return browser.v1.payment_methods.create(params={
        "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}).id


def merchant(cluster: Cluster) -> stripe.StripeClient:
    return stripe.StripeClient(SANDBOX_SECRET_KEY, base_addresses={"api": cluster.stripe_hop.target},
                               max_network_retries=0)


def succeeded_intents(cluster: Cluster, order_id: str) -> list[dict[str, Any]]:
    intents = merchant(cluster).v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
    found = [intent.to_dict() for intent in intents]
    return [i for i in found if (i.get("metadata") or {}).get("orderId") == order_id and i["status"] == "succeeded"]


def create_order(http: httpx.Client, cents: int = 2500) -> dict[str, Any]:
    answer = http.post(ORDERS, json={"totalAmount": cents, "items": [{"sku": "MUG-01", "name": "Mug", "quantity": 1,
                                                                       "unitPrice": cents}]})
    assert answer.status_code == 201, answer.text
    return answer.json()["order"]


def save_card(http: httpx.Client, payment_method_id: str) -> httpx.Response:
    return http.post(f"{PREFIX}/payment-methods/add", json={"paymentMethodId": payment_method_id})


def pay(http: httpx.Client, order_id: str, payment_method_id: str) -> httpx.Response:
    return http.patch(f"{PREFIX}/v1/startorderpayment/{order_id}",
                      json={"paymentUserParams": {"paymentMethodId": payment_method_id}})


def order_of(http: httpx.Client, order_id: str) -> dict[str, Any]:
    answer = http.get(f"{ORDERS}/{order_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["order"]


def stream(http: httpx.Client, message: str | None, *, last_event_id: str | None = None,
           stop_after: int | None = None, max_seconds: float = 60, into: dict[str, Any] | None = None
           ) -> tuple[str, list[Frame], float | None]:
    """POST /api/chat/stream through the balancer: (replica that answered, frames, seconds to the first frame).
    `into` sees the replica and the frames as they come."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    body = {"message": message} if message is not None else None
    frames: list[Frame] = []
    into = {} if into is None else into
    into["frames"] = frames
    first: float | None = None
    started = time.monotonic()
    with http.stream("POST", "/api/chat/stream", json=body, headers=headers) as answer:
        assert answer.status_code == 200, answer.read().decode()
        replica = into["replica"] = answer.headers["x-replica"]
        try:
            for frame in read_frames(answer.iter_lines()):
                if frame is None:
                    continue
                first = first if first is not None else time.monotonic() - started
                frames.append(frame)
                if stop_after is not None and len(frames) >= stop_after:
                    break  # leaving the block cuts the connection mid-stream
                if time.monotonic() - started > max_seconds:
                    break
        except httpx.HTTPError:
            pass  # the replica died under the stream
    return replica, frames, first


# -- the story --------------------------------------------------------------------------------

def test_a_turn_cut_off_on_one_replica_resumes_on_another(cluster: Cluster, model: tuple[ScriptedModel, str]) -> None:
    scripted, _ = model
    scripted.replies = [[Say("First part."), Pause(0.8), Say("Second part."), Pause(0.8), Say("Third part.")]]
    erin = new_buyer("erin")
    with cluster.client(erin, "r1") as via_r1, cluster.client(erin, "r2") as via_r2:
        began, first, _ = stream(via_r1, "tell me a long story", stop_after=2)  # start, first text; then cut
        resumed_at, rest, first_frame = stream(via_r2, None, last_event_id=first[-1].id)
        conversation = via_r2.get(f"/api/chat/conversations/{first[0].data['conversationId']}").json()

    assert (began, resumed_at) == ("r1", "r2")
    whole = first + rest
    turn = first[0].id.split(":")[0]
    assert [frame.id for frame in whole] == [f"{turn}:{n}" for n in range(len(whole))], "no event lost or repeated"
    assert [f.event for f in whole][0] == "start" and whole[-1].event == "done"
    assert "".join(f.data["content"] for f in whole if f.event == "text") == "First part.Second part.Third part."
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
    cluster.figures["resumeFirstEventMs"] = round((first_frame or 0) * 1000)


def test_payments_webhooks_refreshes_and_pay_links_land_on_any_replica(cluster: Cluster) -> None:
    frank = new_buyer("frank")
    with cluster.client(frank, "r1") as r1, cluster.client(frank, "r2") as r2, cluster.client(frank, "r3") as r3, \
            cluster.client(frank) as anyone:
        # Created on r1, card saved on r2, paid on r3: Stripe's webhooks come back through the balancer.
        order = create_order(r1)
        card = save_card(r2, new_card(cluster))
        assert card.status_code == 200, card.text
        paid = pay(r3, order["id"], card.json()["paymentMethodId"])
        assert paid.status_code == 200 and paid.json()["order"]["_paymentConfirmation"] == "paid", paid.text

        # A payment still processing at Stripe: each replica in turn refreshes it until it settles.
        slow_card = save_card(r1, new_card(cluster, PROCESSING)).json()["paymentMethodId"]
        slow = create_order(r2, 1999)
        assert pay(r1, slow["id"], slow_card).json()["order"]["_paymentConfirmation"] == "processing"
        replicas = iter(["r1", "r2", "r3"] * 100)
        clients = {"r1": r1, "r2": r2, "r3": r3}
        refreshed_on: list[str] = []

        def settled() -> bool:
            name = next(replicas)
            answer = clients[name].patch(f"{PREFIX}/v1/refreshorderpayment/{slow['id']}")
            assert answer.status_code == 200, answer.text
            refreshed_on.append(answer.headers["x-replica"])
            # Done once it is paid and every replica has refreshed it (before or after it settled).
            return answer.json()["order"]["_paymentConfirmation"] == "paid" and set(refreshed_on) == set(clients)

        wait_until(settled, timeout=30, interval=0.3, what="the processing payment to settle")

        # A pay link from the MCP tool, opened on r1, its card added on r2, paid on r3.
        third = create_order(anyone, 4200)
        tool = anyone.post("/api/tools/call", json={"tool": "initiatePayment",
                                                    "arguments": {"orderType": "order", "orderId": third["id"]}})
        assert tool.status_code == 200 and tool.json()["success"], tool.text
        pay_url = tool.json()["result"]["structuredContent"]["__frontendAction"]["payUrl"] \
            if "structuredContent" in tool.json()["result"] else _pay_url_in(tool.json()["result"])
        token = pay_url.rstrip("/").rsplit("/", 1)[1]
        # The buyer is signed in where the link opens (saved cards need the link's own user).
        shown = r1.get(f"/pay/api/{token}/order")
        assert shown.status_code == 200 and shown.json()["order"]["id"] == third["id"], shown.text
        added = r2.post(f"/pay/api/{token}/cards/add", json={"paymentMethodId": new_card(cluster)})
        assert added.status_code == 200, added.text
        started = r3.patch(f"/pay/api/{token}/start",
                           json={"paymentUserParams": {"paymentMethodId": added.json()["paymentMethodId"]}})
        assert started.status_code == 200 and started.json()["order"]["_paymentConfirmation"] == "paid", started.text
        assert (shown.headers["x-replica"], added.headers["x-replica"], started.headers["x-replica"]) == ("r1", "r2", "r3")

        for each in (order, slow, third):
            assert order_of(anyone, each["id"])["_paymentConfirmation"] == "paid"
            assert len(succeeded_intents(cluster, each["id"])) == 1, "charged exactly once"

    webhooks = [(replica, status) for replica, method, path, status in cluster.served_by()
                if method == "POST" and path == f"{PREFIX}/stripe-webhook"]
    assert webhooks and all(status.startswith("2") for _, status in webhooks), webhooks
    cluster.figures["webhooksByReplica"] = dict(Counter(replica for replica, _ in webhooks))


def _pay_url_in(result: Any) -> str:
    text = json.dumps(result)
    start = text.index("/pay/")
    return "http://x" + text[start:text.index('"', start)].replace("\\", "")


def test_the_card_testing_limit_is_shared_by_the_replicas(cluster: Cluster) -> None:
    gina = new_buyer("gina")
    clients = [cluster.client(gina, name) for name in ("r1", "r2", "r3")]
    try:
        # Seven different cards (the same card saved again would be the same saved card).
        answers = [save_card(clients[n % 3], new_card(cluster, number)) for n, number in enumerate(DIFFERENT_CARDS)]
        cards = clients[0].get(f"{PREFIX}/payment-methods/list").json()
    finally:
        for client in clients:
            client.close()
    assert [a.status_code for a in answers] == [200] * LIMIT + [429, 429]
    assert {a.headers["x-replica"] for a in answers} == {"r1", "r2", "r3"}
    refused = answers[-1].json()
    assert refused["result"] == "ERR" and refused["status"] == 429 and refused["message"]
    assert len(cards) == LIMIT


def test_killing_a_replica_mid_turn_loses_no_payment(cluster: Cluster, model: tuple[ScriptedModel, str]) -> None:
    scripted, _ = model
    scripted.replies = [[Say("Let me check that order."), Pause(20), Say("Never said: the replica is gone.")]]
    hank = new_buyer("hank")
    with cluster.client(hank, "r1") as r1, cluster.client(hank, "r3") as r3:
        order = create_order(r1, 3100)
        card = save_card(r1, new_card(cluster)).json()["paymentMethodId"]

        seen: dict[str, Any] = {}
        turn = threading.Thread(target=lambda: _quietly(lambda: stream(r3, "is my order paid?", max_seconds=30,
                                                                        into=seen)), daemon=True)
        turn.start()
        wait_until(lambda: len(seen.get("frames", [])) >= 2, timeout=15, what="the turn to be under way on r3")

        # The buyer pays through r3 too; Stripe charges, and r3 dies before it hears back. Stripe's
        # webhooks are held back meanwhile, so that r3 cannot have finished the payment itself.
        cluster.webhook_hop.hold()
        cluster.stripe_hop.hold_next_intent()
        payment: dict[str, Any] = {}
        paying = threading.Thread(target=lambda: payment.update(answer=_quietly(lambda: pay(r3, order["id"], card))))
        paying.start()
        assert cluster.stripe_hop.held.wait(15), "the payment never reached Stripe"
        cluster.replicas["r3"].kill()
        killed_at = time.monotonic()
        paying.join(30)
        turn.join(10)

        # The buyer's request died with r3 (HAProxy's 502 or a cut connection); it is not replayed elsewhere.
        answer = payment.get("answer")
        assert answer is None or answer.status_code in (502, 503, 504), answer and answer.text
        assert seen["replica"] == "r3" and seen["frames"][0].event == "start"
        assert order_of(r1, order["id"])["_paymentConfirmation"] != "paid"  # outcome unknown for now
        assert len(succeeded_intents(cluster, order["id"])) == 1  # while Stripe has charged

        # No webhook comes (held back), nobody clicks: a surviving replica's reconciler finds the
        # unfinished attempt, asks Stripe and marks the order paid, once.
        paid = wait_until(lambda: (o := order_of(r1, order["id"]))["_paymentConfirmation"] == "paid" and o,
                          timeout=45, interval=0.25, what="the reconciler to settle the payment of the dead replica")
        cluster.figures["paidByReconcilerAfterKillSeconds"] = round(time.monotonic() - killed_at, 2)
        assert paid["status"] == "paid"
        # Stripe's webhooks, delivered late to whichever replica, change nothing.
        cluster.webhook_hop.release()
        time.sleep(1)
        intents = succeeded_intents(cluster, order["id"])
        assert len(intents) == 1 and intents[0]["amount"] == 3100 and intents[0]["currency"] == "usd"
        record = r1.get(f"{PREFIX}/v1/orderpaymentbyorderid/{order['id']}")
        assert record.status_code == 200 and record.json()["sys_orderPayment"]["paymentId"] == intents[0]["id"]
        refreshed = r1.patch(f"{PREFIX}/v1/refreshorderpayment/{order['id']}")
        assert refreshed.status_code == 200 and refreshed.json()["order"]["_paymentConfirmation"] == "paid"

        # The turn's events up to the kill are readable from another replica.
        resumed_at, rest, _ = stream(r1, None, last_event_id=seen["frames"][0].id, max_seconds=2, stop_after=1)
        assert resumed_at == "r1"
        assert all(frame.event in ("text", "error") for frame in rest)

    cluster.figures["replicaRestartSeconds"] = round(cluster.start_replica("r3"), 2)
    with cluster.client(hank, "r3") as back:
        assert order_of(back, order["id"])["_paymentConfirmation"] == "paid"


def _quietly(call: Any) -> Any:
    try:
        return call()
    except httpx.HTTPError:
        return None


def test_each_event_is_delivered_once_although_every_replica_relays(cluster: Cluster) -> None:
    async def outbox() -> list[dict[str, Any]]:
        import asyncpg
        from sqlalchemy.engine import make_url

        url = make_url(cluster.env["ORDERPAY_DATABASE_URL"])
        connection = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                           password=url.password, database=url.database)
        try:
            return [dict(r) for r in await connection.fetch('SELECT id, topic, "publishedAt" FROM sys_outbox')]
        finally:
            await connection.close()

    # An event the killed replica had claimed is taken over when its lease (60 s) runs out.
    rows = wait_until(lambda: (r := run_async(outbox())) and all(row["publishedAt"] for row in r) and r,
                      timeout=90, interval=0.5, what="the outbox to drain")
    edge_events = {str(row["id"]) for row in rows if row["topic"] in EDGE_TOPICS}
    counts = wait_until(lambda: (c := cluster.edge.counts()) and set(c) >= edge_events and c, timeout=15,
                        what="the edge receiver to get every event")
    assert set(counts) == edge_events
    # Once each — except, at most, an event whose delivery the SIGKILLed replica had begun: at-least-once.
    twice = {event for event, n in counts.items() if n != 1}
    killed_mid_delivery = {item["eventId"] for item in cluster.edge.received if item["relayedBy"] == "r3"}
    assert twice <= killed_mid_delivery, f"delivered twice: {twice}"
    cluster.figures["edgeDuplicatesFromTheKilledReplica"] = len(twice)
    published = run_async(_stream_event_ids(cluster))
    assert Counter(published) == Counter(str(row["id"]) for row in rows)
    cluster.figures["outboxEvents"] = len(rows)
    cluster.figures["edgeDeliveries"] = sum(counts.values())
    cluster.figures["edgeDeliveriesByRelayingReplica"] = dict(Counter(item["relayedBy"] for item in cluster.edge.received))
    assert len(cluster.figures["edgeDeliveriesByRelayingReplica"]) >= 2, "more than one replica relayed"


async def _stream_event_ids(cluster: Cluster) -> list[str]:
    """Every message in the app's JetStream stream, by its Nats-Msg-Id (the event id)."""
    import nats

    connection = await nats.connect(cluster.env["ORDERPAY_BROKER_URL"])
    try:
        js = connection.jetstream()
        stream = cluster.env["ORDERPAY_BROKER_STREAM"]
        info = await js.stream_info(stream)
        ids = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream, seq)
            ids.append((message.headers or {}).get("Nats-Msg-Id", ""))
        return ids
    finally:
        await connection.close()
