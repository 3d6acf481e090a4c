"""Turns: one user message and everything the assistant does about it, as a stream of events.

A turn runs in a task of its own, not in the request that started it, so that
a client that loses its connection can come back: every event is kept in
memory while the turn runs here and written to the database as it is produced,
so a reconnect with `Last-Event-ID` gets the rest of the turn from this
replica's memory, or from the database on any other. A turn nobody listens to
is cancelled once `chat_resume_grace_seconds` have passed without a reconnect
(a replica streaming it from the database marks it watched).

A turn's `start` goes out before its first rows are committed (they are written with the turn's
next batch, at most `WriteBehind.linger` later, or with its `done`): its turn id is a UUIDv7,
which carries the turn's start time, so a replica asked about a turn it neither runs nor finds in
the database (a resume with `Last-Event-ID`, a stop) waits for the rows while the turn is younger
than `PENDING_SECONDS`, instead of answering that it does not exist. Where a client resumes by
conversation rather than by event id (the AI SDK), no replica could know of the turn before the
commit, so those turns wait for it before `start` (`commit_first`).

A turn's owner can stop it (`stop`): at once when it runs here, else by marking
it `stopping` in the database, which the replica running it looks for every
`STOP_POLL_SECONDS`. A stopped turn ends with a `stopped` event and keeps its
complete rounds. The events are the one source every dialect encodes (the
native SSE events, the AI SDK UI message stream, AG-UI).
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from anyio.abc import TaskGroup

from payment_core import metrics
from payment_core.errors import BadInput, Conflict, NotFound
from payment_core.identity import Session
from bff.agent import ToolLoop
from bff.mcp_client import McpManager, ToolSession
from bff.messages import Message, user
from bff.payment_watch import PaymentWatch
from bff.providers import Provider, ProviderError
from bff.settings import ChatSettings
from bff.storage import TERMINAL_EVENTS, ChatStore, TurnRow, utcnow

log = logging.getLogger("orderpay.bff.turns")

POLL_SECONDS = 0.25  # how often a replica streaming a turn from the database looks for new events
WATCH_MARK_SECONDS = 1.0  # how often it tells the running replica that someone listens
STOP_POLL_SECONDS = 0.5  # how often a replica looks for stop requests of its turns made on another
STOP_WAIT_SECONDS = 5.0  # how long a stop request waits for the turn to end before answering
# How long after its start a turn's first rows may still be uncommitted: the write-behind's linger,
# its retries of a failed batch (about 6 s) and a margin. Another replica waits this long for them.
PENDING_SECONDS = 15.0
CLOCK_SKEW_SECONDS = 2.0  # how far ahead of this replica's clock another's may run


def new_turn_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): the first 48 bits are the Unix time in milliseconds, the rest random."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # the RFC 4122 variant
    return uuid.UUID(int=value)


def turn_started(turn_id: uuid.UUID) -> float | None:
    """When the turn started (Unix seconds), from its id; None for an id that does not carry it."""
    return (turn_id.int >> 80) / 1000 if turn_id.version == 7 else None


@dataclass(frozen=True)
class ChatEvent:
    turn_id: uuid.UUID
    seq: int
    name: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        """The SSE id, what a client sends back as `Last-Event-ID`."""
        return f"{self.turn_id}:{self.seq}"


def parse_event_id(value: str) -> tuple[uuid.UUID, int]:
    turn, _, seq = value.strip().partition(":")
    try:
        return uuid.UUID(turn), int(seq)
    except ValueError:
        raise BadInput("Last-Event-ID: not an event id of this server", field="Last-Event-ID") from None


class LiveTurn:
    """A turn running in this process: its events so far, and who follows them."""

    def __init__(self, turn_id: uuid.UUID, conversation_id: uuid.UUID, user_id: uuid.UUID, provider: str,
                 store: ChatStore) -> None:
        self.id, self.conversation_id, self.user_id, self.provider = turn_id, conversation_id, user_id, provider
        self.store = store
        self.events: list[ChatEvent] = []
        self.followers = 0
        self.finished = False
        self.closing = False  # its last event is being committed (see `next_events`)
        self.stop_requested = False
        self.status = "running"
        self.scope = anyio.CancelScope()
        self.started = time.perf_counter()
        self._unpublished = 0
        self._changed: anyio.Event | None = None  # made by a follower that waits: most events have none

    def emit(self, name: str, data: dict[str, Any]) -> ChatEvent:
        """Store an event and pass it on to the followers."""
        event = self.record(name, data)
        self.publish(event)
        return event

    def record(self, name: str, data: dict[str, Any]) -> ChatEvent:
        """Store an event (through the write-behind queue) without passing it on yet."""
        event = ChatEvent(self.id, len(self.events) + self._unpublished, name, data)
        self.store.add_event(self.id, event.seq, name, data)
        self._unpublished += 1
        return event

    def publish(self, event: ChatEvent) -> None:
        self._unpublished -= 1
        self.events.append(event)
        self._wake_followers()

    async def emit_async(self, name: str, data: dict[str, Any]) -> None:
        self.emit(name, data)

    async def next_events(self, after: int) -> list[ChatEvent]:
        """Events after seq `after`, waiting for at least one unless the turn is over. While the
        turn is closing, what it published last (the end of its answer) waits for its last event:
        they go to the client together, in one write, once that event is committed."""
        while (len(self.events) <= after + 1 or self.closing) and not self.finished:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()
        return self.events[after + 1:]

    def finish(self) -> None:
        self.finished = True
        self._wake_followers()

    def _wake_followers(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def stop(self) -> None:
        """Cancel the turn now; it ends with a `stopped` event."""
        self.stop_requested = True
        self.scope.cancel()


class TurnHub:
    def __init__(self, *, chat: ChatSettings, store: ChatStore, mcp: McpManager, provider: Provider,
                 system: str) -> None:
        self.chat, self.store, self.mcp, self.provider, self.system = chat, store, mcp, provider, system
        self.live: dict[uuid.UUID, LiveTurn] = {}
        self._group: TaskGroup | None = None
        self._slots = anyio.Semaphore(chat.chat_max_active_turns)
        self._starting: set[uuid.UUID | None] = set()  # conversations whose turn is being started here

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Keep entered while serving. On leaving, turns still running end with an `error` event."""
        async with anyio.create_task_group() as group:
            self._group = group
            group.start_soon(self._watch_stop_requests)
            try:
                yield
            finally:
                for turn in list(self.live.values()):
                    turn.scope.cancel()
                with anyio.move_on_after(10, shield=True):
                    while self.live:
                        await anyio.sleep(0.05)
                self._group = None
                group.cancel_scope.cancel()

    async def start(self, session: Session, token: str, text: str, conversation_id: uuid.UUID | None, *,
                    create: bool = False, commit_first: bool = False) -> LiveTurn:
        """Start a turn of `session`'s user; its `start` event is there at once. With `create`, a
        `conversation_id` that does not exist yet starts that conversation (the id a client chose).
        With `commit_first`, `start` waits for the turn's rows to be committed, for clients that
        resume by conversation, not by event id (see the module docstring)."""
        if self._group is None:
            raise RuntimeError("TurnHub.running() is not entered")
        if conversation_id in self._starting:  # the same conversation's start, a moment ago, not yet live
            raise Conflict("a turn is already running in this conversation; wait for its `done`")
        if conversation_id is not None:
            self._starting.add(conversation_id)
        try:
            return await self._start(session, token, text, conversation_id, create, commit_first)
        finally:
            self._starting.discard(conversation_id)

    async def _start(self, session: Session, token: str, text: str, conversation_id: uuid.UUID | None,
                     create: bool, commit_first: bool) -> LiveTurn:
        assert self._group is not None
        user_id = uuid.UUID(session.user_id)
        history: list[Message] = []
        new = conversation_id is None
        if conversation_id is not None:
            if await self.store.conversation(user_id, conversation_id) is None:
                if not create:
                    raise NotFound("Conversation not found")
                new = True
            if any(t.conversation_id == conversation_id for t in self.live.values()) or \
                    await self.store.running_turn(conversation_id, younger_than=self.chat.chat_turn_timeout_seconds):
                raise Conflict("a turn is already running in this conversation; wait for its `done`")
            if not new:
                history = await self.store.messages(conversation_id, last=self.chat.chat_history_messages)
        conversation_id = conversation_id or uuid.uuid4()
        turn = LiveTurn(new_turn_id(), conversation_id, user_id, self.provider.name, self.store)
        message = user(text)
        self.store.begin_turn(turn_id=turn.id, conversation_id=conversation_id, user_id=user_id,
                              provider=self.provider.name, user_message=message, new_conversation=new)
        if commit_first:
            await self.store.writer.sync()
        metrics.chat_turn_started()
        turn.emit("start", {"conversationId": str(conversation_id), "provider": self.provider.name})
        self.live[turn.id] = turn
        self._group.start_soon(self._run, turn, token, history + [message])
        return turn

    async def _run(self, turn: LiveTurn, token: str, history: list[Message]) -> None:
        loop: ToolLoop | None = None
        error: str | None = None
        timeout = self.chat.chat_turn_timeout_seconds
        with turn.scope:
            with anyio.move_on_after(timeout) as deadline:
                try:
                    async with self._slots, self.mcp.session(token) as tools:
                        tools.call_meta = {"orderpay/conversationId": str(turn.conversation_id),
                                           "orderpay/turnId": str(turn.id)}
                        payments = PaymentWatch(turn.emit_async)
                        watching = anyio.CancelScope()

                        async def emit(name: str, data: dict[str, Any]) -> None:
                            await turn.emit_async(name, data)
                            if name == "tool_result":
                                watched = bool(payments.payments)
                                await payments.tool_result(tools, data)
                                # Followed from the turn's first payment on (most turns prepare none).
                                # In the hub's task group, not one of its own: the loop's errors stay unwrapped.
                                if payments.payments and not watched and self._group is not None:
                                    self._group.start_soon(self._watch_payments, payments, tools, watching)

                        loop = ToolLoop(self.provider, tools, self.system, history, emit,
                                        max_rounds=self.chat.chat_max_tool_rounds)
                        try:
                            await loop.run()
                        finally:
                            watching.cancel()
                        await payments.check(tools)  # the state the turn ends with
                except ProviderError as exc:
                    error = f"The assistant is unavailable: {exc.message}."
                    log.warning("model call failed", exc_info=exc.__cause__ or exc)
                except Exception:
                    error = "The assistant failed unexpectedly. Please try again."
                    log.exception("turn failed", extra={"turnId": str(turn.id)})
            if deadline.cancelled_caught:
                error = f"The turn took longer than {timeout:g} seconds and was stopped."
        if turn.scope.cancelled_caught and turn.stop_requested:
            error = None
        elif turn.scope.cancelled_caught:
            error = "The turn was cancelled: its client went away."
        with anyio.CancelScope(shield=True):
            await self._finish(turn, loop, error)

    async def _watch_payments(self, payments: PaymentWatch, tools: ToolSession, scope: anyio.CancelScope) -> None:
        interval = self.chat.chat_payment_watch_seconds
        with scope:
            while interval > 0:
                await anyio.sleep(interval)
                await payments.check(tools)

    async def _finish(self, turn: LiveTurn, loop: ToolLoop | None, error: str | None) -> None:
        """Save the turn's messages and its last event, then pass that event on: when a client sees
        `done`, the conversation is readable and the turn resumable from the database."""
        turn.closing = True
        self.store.add_messages(turn.conversation_id, turn.id, loop.messages if loop else [])
        summary = {"conversationId": str(turn.conversation_id), "toolCalls": loop.tool_calls if loop else 0,
                   "processingTime": round((time.perf_counter() - turn.started) * 1000)}
        if error:
            turn.status, last = "error", turn.record("error", {"message": error})
        elif turn.stop_requested and turn.scope.cancelled_caught:
            turn.status, last = "stopped", turn.record("stopped", {**summary, "message": "Stopped."})
        else:
            turn.status, last = "done", turn.record("done", summary)
        metrics.chat_turn_finished(turn.status, time.perf_counter() - turn.started)
        self.store.end_turn(turn.id, turn.conversation_id, turn.status)
        await self.store.writer.sync()
        turn.publish(last)
        turn.finish()
        self.live.pop(turn.id, None)

    async def follow(self, turn: LiveTurn, after: int = -1) -> AsyncIterator[list[ChatEvent]]:
        """The turn's events after seq `after`, as they come, in batches: each batch is what was
        there when the follower looked, and goes to the client in one write. While nobody follows
        the turn, the grace period runs."""
        turn.followers += 1
        try:
            while True:
                events = await turn.next_events(after)
                if events:
                    yield events
                    after = events[-1].seq
                if turn.finished and after >= len(turn.events) - 1:
                    return
        finally:
            turn.followers -= 1
            if turn.followers == 0 and not turn.finished and self._group is not None:
                self._group.start_soon(self._cancel_when_abandoned, turn)

    async def _cancel_when_abandoned(self, turn: LiveTurn) -> None:
        grace = self.chat.chat_resume_grace_seconds
        while True:
            await anyio.sleep(grace)
            if turn.finished or turn.followers:
                return  # a local follower starts a new grace period when it leaves
            if not await self.store.watched_since(turn.id, max(grace, WATCH_MARK_SECONDS * 3)):
                log.info("turn cancelled: no client", extra={"turnId": str(turn.id)})
                turn.scope.cancel()
                return

    async def resume(self, session: Session, last_event_id: str) -> AsyncIterator[list[ChatEvent]] | None:
        """The rest of a turn after `Last-Event-ID`: from memory when it runs here, else from the
        database. None when there is nothing left to send: the turn ended at that event, or it is
        unknown (someone else's turn reads the same, so its existence is not told)."""
        turn_id, seq = parse_event_id(last_event_id)
        return await self._events(uuid.UUID(session.user_id), turn_id, seq)

    async def _events(self, user_id: uuid.UUID, turn_id: uuid.UUID, after: int
                      ) -> AsyncIterator[list[ChatEvent]] | None:
        turn = self.live.get(turn_id)
        if turn is not None and turn.user_id == user_id:
            return self.follow(turn, after)
        if turn is not None:
            return None
        row = await self._stored_turn(turn_id)
        if row is None or row.user_id != user_id:
            return None
        if row.status not in ("running", "stopping") and not await self.store.events_after(turn_id, after):
            return None
        return self._tail(turn_id, after, row.started_at)

    async def _stored_turn(self, turn_id: uuid.UUID) -> TurnRow | None:
        """The turn's row. A turn that started moments ago on another replica may not have its rows
        committed yet: while its id says it is younger than `PENDING_SECONDS`, wait for them."""
        row = await self.store.turn(turn_id)
        started = turn_started(turn_id)
        if started is None:
            return row
        while row is None and started - CLOCK_SKEW_SECONDS < time.time() < started + PENDING_SECONDS:
            await anyio.sleep(POLL_SECONDS)
            row = await self.store.turn(turn_id)
        return row

    async def active(self, session: Session, conversation_id: uuid.UUID
                     ) -> tuple[uuid.UUID, AsyncIterator[list[ChatEvent]]] | None:
        """The turn running in the user's conversation (here or on another replica), with all its
        events from `start`; None when none runs."""
        user_id = uuid.UUID(session.user_id)
        live = next((t for t in self.live.values() if t.conversation_id == conversation_id and not t.finished), None)
        turn_id = live.id if live else await self.store.running_turn_id(
            conversation_id, younger_than=self.chat.chat_turn_timeout_seconds)
        if turn_id is None:
            return None
        events = await self._events(user_id, turn_id, -1)
        return (turn_id, events) if events is not None else None

    async def stop(self, session: Session, turn_id: uuid.UUID) -> str:
        """Stop the user's turn; answers the turn's status once it ended (or `stopping` when the
        replica running it has not answered within `STOP_WAIT_SECONDS`). A turn already over is
        left as it is. Someone else's turn is not found."""
        user_id = uuid.UUID(session.user_id)
        turn = self.live.get(turn_id)
        if turn is not None:
            if turn.user_id != user_id:
                raise NotFound("Turn not found")
            turn.stop()
            with anyio.move_on_after(STOP_WAIT_SECONDS):
                while not turn.finished:
                    await turn.next_events(len(turn.events) - 1)
            return turn.status if turn.finished else "stopping"
        row = await self._stored_turn(turn_id)
        if row is None or row.user_id != user_id:
            raise NotFound("Turn not found")
        if row.status != "running" and row.status != "stopping":
            return row.status
        await self.store.request_stop(turn_id)
        with anyio.move_on_after(STOP_WAIT_SECONDS):
            while True:
                await anyio.sleep(STOP_POLL_SECONDS / 2)
                row = await self.store.turn(turn_id)
                if row is None or row.status not in ("running", "stopping"):
                    break
        return row.status if row is not None else "stopped"

    async def _watch_stop_requests(self) -> None:
        """Stop the turns running here that another replica was asked to stop."""
        while True:
            await anyio.sleep(STOP_POLL_SECONDS)
            running = [t.id for t in self.live.values() if not t.finished and not t.stop_requested]
            if not running:
                continue
            try:
                asked = await self.store.stop_requested(running)
            except Exception:
                log.warning("could not read stop requests", exc_info=True)
                continue
            for turn_id in asked:
                if (turn := self.live.get(turn_id)) is not None:
                    turn.stop()

    async def _tail(self, turn_id: uuid.UUID, after: int, started_at: Any) -> AsyncIterator[list[ChatEvent]]:
        """Poll the database for a turn another replica runs (or ran)."""
        # A turn older than its deadline that still has no end was lost with its replica.
        lost_at = started_at + timedelta(seconds=self.chat.chat_turn_timeout_seconds + 30)
        # Tell the replica running it at once that someone listens again: its grace period may be short.
        await self.store.mark_watched(turn_id)
        marked = time.monotonic()
        while True:
            stored_events = await self.store.events_after(turn_id, after)
            batch: list[ChatEvent] = []
            for stored in stored_events:
                batch.append(ChatEvent(turn_id, stored.seq, stored.name, stored.data))
                if stored.name in TERMINAL_EVENTS:
                    break
            if batch:
                yield batch
                after = batch[-1].seq
                if batch[-1].name in TERMINAL_EVENTS:
                    return
            elif await self.store.ended(turn_id):
                # Resumed after its last event, or its last events were committed since the read above.
                if not await self.store.events_after(turn_id, after):
                    return
                continue  # read them now
            if utcnow() > lost_at:
                yield [ChatEvent(turn_id, after + 1, "error", {"message": "The turn was interrupted and cannot be resumed."})]
                return
            if time.monotonic() - marked > WATCH_MARK_SECONDS:
                await self.store.mark_watched(turn_id)
                marked = time.monotonic()
            await anyio.sleep(POLL_SECONDS)
