"""Message brokers the outbox relay publishes to, through FastStream: NATS JetStream and Kafka.

The topic of an event is its NATS subject or Kafka topic, unchanged: the seeds' names.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from payment_core.relay import Publisher


class NatsJetStreamPublisher:
    """Publishes to a JetStream stream that holds exactly the app's topics, created if missing.

    Each message carries `Nats-Msg-Id: <eventId>`, so JetStream drops the relay's re-sends of
    an event within its duplicate window.
    """

    def __init__(self, url: str, stream: str, subjects: Iterable[str]) -> None:
        from faststream.nats import NatsBroker

        self.broker = NatsBroker(url, connect_timeout=5)
        self.name = f"nats:{stream}"  # how the relay tracks what this broker already has
        self.stream = stream
        self.subjects = sorted(set(subjects))

    async def start(self) -> None:
        from nats.js.api import StreamConfig
        from nats.js.errors import NotFoundError

        await self.broker.connect()
        js = self.broker.connection.jetstream()
        try:
            info = await js.stream_info(self.stream)
            missing = set(self.subjects) - set(info.config.subjects or ())
            if missing:
                info.config.subjects = sorted(set(info.config.subjects or ()) | missing)
                await js.update_stream(info.config)
        except NotFoundError:
            await js.add_stream(StreamConfig(name=self.stream, subjects=self.subjects))

    async def publish(self, topic: str, payload: dict[str, Any], *, event_id: str) -> None:
        await self.broker.publish(payload, subject=topic, stream=self.stream, headers={"Nats-Msg-Id": event_id})

    async def stop(self) -> None:
        await self.broker.stop()


class KafkaPublisher:
    """Publishes to Kafka topics of the same names; the event id is the message key's header."""

    def __init__(self, bootstrap_servers: str) -> None:
        from faststream.kafka import KafkaBroker  # needs the `kafka` extra (aiokafka)

        self.broker = KafkaBroker(bootstrap_servers)
        self.name = "kafka"

    async def start(self) -> None:
        await self.broker.connect()

    async def publish(self, topic: str, payload: dict[str, Any], *, event_id: str) -> None:
        await self.broker.publish(payload, topic=topic, key=event_id.encode(), headers={"eventId": event_id})

    async def stop(self) -> None:
        await self.broker.stop()


def publisher_for(url: str, *, stream: str, subjects: Iterable[str]) -> Publisher:
    """`nats://host:4222` or `kafka://host:9092[,host2:9092]`."""
    scheme = urlparse(url).scheme
    if scheme in ("nats", "tls"):
        return NatsJetStreamPublisher(url, stream, subjects)
    if scheme == "kafka":
        return KafkaPublisher(url.removeprefix("kafka://"))
    raise ValueError(f"ORDERPAY_BROKER_URL: unsupported broker `{scheme}` (use nats:// or kafka://)")
