"""A deployment as docs/deploy.md describes it, started on this machine: three `orderpay serve`
replicas (real processes) sharing one PostgreSQL database and NATS, one standalone
`orderpay sandbox` playing Stripe for all of them, behind a real HAProxy.

Seams of the test's own sit where a deployment has a network hop: the replicas' calls to
Stripe go through `StripeHop` (a pass-through proxy that can hold one answer, to kill a
replica while its Stripe call is in flight), Stripe's webhooks through `WebhookHop` (which can
hold them back for a while), and the spec's edge function posts each event to `EdgeReceiver`
(a real HTTP endpoint that counts deliveries per event id). Nothing in orderpay is patched.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from payment_core.identity import DevTokenIssuer, Session, load_or_create_signing_key
from payment_core.sandbox import SandboxKeys
from tests.support import free_port, start_uvicorn, unavailable

REPO = Path(__file__).resolve().parents[2]
# The standalone sandbox's keys for this run, handed to it and to the replicas as a test rig does.
_SANDBOX_KEYS = SandboxKeys()
SANDBOX_SECRET_KEY = _SANDBOX_KEYS.secret_key
SANDBOX_PUBLISHABLE_KEY = _SANDBOX_KEYS.publishable_key


def orderpay_command() -> list[str]:
    """The `orderpay` console script of this environment (as an operator runs it)."""
    script = Path(sys.executable).with_name("orderpay")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orderpay"]


def haproxy_binary() -> str:
    path = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if path is None:
        unavailable("HAProxy is not installed (apt-get install haproxy)")
    return path


def wait_until(check: Any, *, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (httpx.HTTPError, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


# -- the test's seams ------------------------------------------------------------------------

class StripeHop:
    """Forwards every call to the sandbox unchanged. `hold_next_intent()` makes it keep the
    answer of the next PaymentIntent creation: Stripe has done the work, the replica never hears."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._hold = False
        self.held = threading.Event()
        self.released = threading.Event()
        port = free_port()
        self.server, self.thread = start_uvicorn(Starlette(routes=[
            Route("/{path:path}", self._forward, methods=["GET", "POST", "DELETE"])]), port)
        self.url = f"http://127.0.0.1:{port}"

    def hold_next_intent(self) -> None:
        self.held.clear()
        self._hold = True

    async def _forward(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with httpx.AsyncClient(base_url=self.target, timeout=30) as client:
            answer = await client.request(request.method, request.url.path, params=request.url.query,
                                          content=await request.body(), headers=headers)
        if self._hold and request.method == "POST" and request.url.path == "/v1/payment_intents":
            self._hold = False
            self.held.set()
            while not self.released.is_set():  # the asking replica is killed meanwhile
                await asyncio.sleep(0.05)
        keep = {k: v for k, v in answer.headers.items()
                if k.lower() not in ("content-length", "content-encoding", "transfer-encoding", "connection")}
        return Response(answer.content, answer.status_code, headers=keep)

    def stop(self) -> None:
        self.released.set()
        self.server.should_exit = True
        self.thread.join(timeout=15)


class WebhookHop:
    """Passes Stripe's webhooks on to the load balancer, byte for byte. While `hold()` is on, each
    webhook waits here (as one would in a queue or a slow network) until `release()`."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.open = threading.Event()
        self.open.set()
        port = free_port()
        self.server, self.thread = start_uvicorn(Starlette(routes=[
            Route("/{path:path}", self._forward, methods=["POST"])]), port)
        self.url = f"http://127.0.0.1:{port}"

    def hold(self) -> None:
        self.open.clear()

    def release(self) -> None:
        self.open.set()

    async def _forward(self, request: Request) -> Response:
        body = await request.body()
        while not self.open.is_set():
            await asyncio.sleep(0.05)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(f"{self.target}{request.url.path}", content=body, headers=headers)
        return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

    def stop(self) -> None:
        self.open.set()
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class EdgeReceiver:
    """The HTTP endpoint the edge function posts each payment event to."""

    received: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        async def receive(request: Request) -> Response:
            event = await request.json()
            self.received.append({"eventId": event.get("eventId"), "topic": event.get("topic"),
                                  "relayedBy": request.headers.get("x-relayed-by")})
            return JSONResponse({"status": 200})

        port = free_port()
        self.server, self.thread = start_uvicorn(Starlette(routes=[Route("/events", receive, methods=["POST"])]), port)
        self.url = f"http://127.0.0.1:{port}/events"

    def counts(self) -> Counter[str]:
        return Counter(item["eventId"] for item in list(self.received))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


# -- processes -------------------------------------------------------------------------------

@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when a machine dies."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spawn(name: str, command: list[str], env: dict[str, str], workdir: Path) -> Process:
    log = workdir / f"{name}.log"
    handle = log.open("wb")
    popen = subprocess.Popen(command, env=env, cwd=workdir, stdout=handle, stderr=subprocess.STDOUT)
    handle.close()
    return Process(name, popen, log)


def clean_environment() -> dict[str, str]:
    """This process's environment without any ORDERPAY_ setting: each process gets only what it is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERPAY_")}
    env["PYTHONPATH"] = str(REPO)  # the test spec's edge function lives in tests/
    return env


HAPROXY_CONFIG = """\
global
    log stdout format raw local0
    maxconn 1000

defaults
    mode http
    log global
    log-format "%s %HM %HU %ST"
    timeout connect 2s
    timeout check 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 5s
    retries 3
    option redispatch 1

frontend orderpay
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    # The tests may steer one request to one replica; a replica that is down is skipped anyway.
{steering}
    http-response set-header X-Replica %s
{servers}
"""


def haproxy_config(port: int, replicas: dict[str, int]) -> str:
    steering = "\n".join(f"    use-server {name} if {{ req.hdr(x-replica) -m str {name} }}" for name in replicas)
    servers = "\n".join(f"    server {name} 127.0.0.1:{p} check inter 1s fall 3 rise 1" for name, p in replicas.items())
    return HAPROXY_CONFIG.format(port=port, steering=steering, servers=servers)


@dataclass
class Cluster:
    workdir: Path
    lb_url: str
    env: dict[str, str]
    replicas: dict[str, Process]
    replica_ports: dict[str, int]
    sandbox: Process
    haproxy: Process
    stripe_hop: StripeHop
    webhook_hop: WebhookHop
    edge: EdgeReceiver
    issuer: DevTokenIssuer
    figures: dict[str, Any] = field(default_factory=dict)

    def token(self, user: Session) -> str:
        return self.issuer.issue(user)

    def client(self, user: Session, replica: str | None = None) -> httpx.Client:
        """A buyer's HTTP client through the load balancer; `replica` steers its requests to one replica."""
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        if replica:
            headers["X-Replica"] = replica
        return httpx.Client(base_url=self.lb_url, headers=headers, timeout=60)

    def launch(self, name: str) -> None:
        env = {**self.env, "ORDERPAY_TEST_REPLICA": name}
        self.replicas[name] = spawn(name, [*orderpay_command(), "serve", "--port", str(self.replica_ports[name])],
                                    env, self.workdir)

    def wait_ready(self, name: str) -> None:
        def ready() -> bool:
            if not self.replicas[name].alive():
                raise AssertionError(f"replica {name} exited:\n{self.replicas[name].output()[-3000:]}")
            answer = httpx.get(f"{self.lb_url}/health/ready", headers={"X-Replica": name}, timeout=2)
            return answer.status_code == 200 and answer.headers.get("x-replica") == name

        wait_until(ready, timeout=90, what=f"replica {name} behind the load balancer", interval=0.1)

    def start_replica(self, name: str) -> float:
        """Start one replica; the seconds until the load balancer reaches it ready."""
        started = time.monotonic()
        self.launch(name)
        self.wait_ready(name)
        return time.monotonic() - started

    def served_by(self) -> list[tuple[str, str, str, str]]:
        """(replica, method, path, status) of each request HAProxy has logged so far."""
        lines = []
        for line in self.haproxy.output().splitlines():
            parts = line.split(" ")
            if len(parts) == 4 and parts[0] in self.replica_ports:
                lines.append((parts[0], parts[1], parts[2], parts[3]))
        return lines

    def stop(self) -> None:
        for process in [*self.replicas.values(), self.sandbox, self.haproxy]:
            process.stop()
        self.stripe_hop.stop()
        self.webhook_hop.stop()
        self.edge.stop()


def start_cluster(workdir: Path, *, spec: Path, database_url: str, nats_url: str, stream: str,
                  webhook_path: str, attempts_per_minute: int, model_url: str) -> Cluster:
    haproxy = haproxy_binary()
    names = ["r1", "r2", "r3"]
    lb_port, sandbox_port = free_port(), free_port()
    ports = {name: free_port() for name in names}
    lb_url = f"http://127.0.0.1:{lb_port}"
    webhook_secret = "whsec_" + uuid.uuid4().hex
    base_env = clean_environment()
    webhooks = WebhookHop(lb_url)

    sandbox = spawn("sandbox", [*orderpay_command(), "sandbox", "--port", str(sandbox_port), "--memory",
                                "--secret-key", SANDBOX_SECRET_KEY, "--publishable-key", SANDBOX_PUBLISHABLE_KEY,
                                "--webhook", f"{webhooks.url}{webhook_path}", "--webhook-secret", webhook_secret],
                    base_env, workdir)
    started: list[Any] = [webhooks, sandbox]  # stopped again if the start fails half way
    try:
        wait_until(lambda: sandbox.alive() and httpx.get(f"http://127.0.0.1:{sandbox_port}/v1/customers", timeout=2,
                                                         headers={"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"}
                                                         ).status_code == 200,
                   timeout=30, what=f"the sandbox:\n{sandbox.output()}")
        hop = StripeHop(f"http://127.0.0.1:{sandbox_port}")
        started.append(hop)
        edge = EdgeReceiver()
        started.append(edge)

        config = workdir / "haproxy.cfg"
        config.write_text(haproxy_config(lb_port, ports))
        balancer = spawn("haproxy", [haproxy, "-db", "-f", str(config)], base_env, workdir)
        started.append(balancer)
        wait_until(lambda: balancer.alive() and httpx.get(f"{lb_url}/health/live", timeout=1).status_code in (200, 503),
                   timeout=15, what="HAProxy")

    except BaseException:
        for part in reversed(started):
            part.stop()
        raise

    data_dir = workdir / "shared"
    # One signing key for all replicas (development identity; production verifies an external issuer's JWKS).
    key = load_or_create_signing_key(data_dir / "dev-signing-key.pem")
    env = {
        **base_env,
        "ORDERPAY_ENVIRONMENT": "development",
        "ORDERPAY_APP": str(spec),
        "ORDERPAY_HOST": "127.0.0.1",
        "ORDERPAY_DATA_DIR": str(data_dir),
        "ORDERPAY_DATABASE_URL": database_url,
        "ORDERPAY_PUBLIC_URL": lb_url,
        "ORDERPAY_BROKER_URL": nats_url,
        "ORDERPAY_BROKER_STREAM": stream,
        "ORDERPAY_RELAY_INTERVAL_SECONDS": "0.1",
        "ORDERPAY_STRIPE_SECRET_KEY": SANDBOX_SECRET_KEY,
        "ORDERPAY_STRIPE_PUBLISHABLE_KEY": SANDBOX_PUBLISHABLE_KEY,
        "ORDERPAY_STRIPE_API_BASE": hop.url,
        "ORDERPAY_STRIPE_WEBHOOK_SECRETS": webhook_secret,
        "ORDERPAY_STRIPE_TIMEOUT_SECONDS": "3",
        "ORDERPAY_PAY_LINK_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "ORDERPAY_PAYMENT_ATTEMPTS_PER_MINUTE": str(attempts_per_minute),
        # Unfinished payments are reconciled 8 s after their last change (the least allowed with a
        # 3 s Stripe timeout), looked for every second.
        "ORDERPAY_RECONCILE_AFTER_SECONDS": "8",
        "ORDERPAY_RECONCILE_INTERVAL_SECONDS": "1",
        "ORDERPAY_CHAT_PROVIDER": "openai",
        "ORDERPAY_OPENAI_BASE_URL": f"{model_url}/v1",
        "ORDERPAY_OPENAI_API_KEY": "sk-test-scripted-model",
        "ORDERPAY_CHAT_RESUME_GRACE_SECONDS": "10",
        "ORDERPAY_DEMO_DATA": "false",
        "ORDERPAY_LOG_JSON": "false",
        "ORDERPAY_LOG_LEVEL": "WARNING",
        "ORDERPAY_TEST_EDGE_RECEIVER": edge.url,
    }
    cluster = Cluster(workdir=workdir, lb_url=lb_url, env=env, replicas={}, replica_ports=ports, sandbox=sandbox,
                      haproxy=balancer, stripe_hop=hop, webhook_hop=webhooks, edge=edge,
                      issuer=DevTokenIssuer(key, "orderpay-dev", "orderpay", 3600))
    try:
        # The deploy step: the schema is brought up to date once, before any replica starts.
        started = time.monotonic()
        upgrade = subprocess.run([*orderpay_command(), "db", "upgrade"], env=env, cwd=workdir, capture_output=True,
                                 text=True, timeout=120)
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        cluster.figures["dbUpgradeSeconds"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        for name in names:
            cluster.launch(name)
        for name in names:
            cluster.wait_ready(name)
        cluster.figures["replicasStartSeconds"] = round(time.monotonic() - started, 2)
    except BaseException:
        cluster.stop()
        raise
    return cluster
