"""The chat's write-behind queue on a real SQLite database: a turn that starts and ends within one
batch is written as one row with its end, one that ended in a later batch is changed in place,
and rows of every table arrive in the order they were queued."""
from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest
from sqlalchemy import MetaData, select

from bff.storage import WriteBehind, chat_tables, utcnow
from payment_core.db import create_database, create_schema

pytestmark = pytest.mark.anyio


def turn_row(turn_id: uuid.UUID, conversation_id: uuid.UUID) -> dict[str, object]:
    return {"id": turn_id, "conversationId": conversation_id, "userId": uuid.uuid4(), "provider": "offline",
            "status": "running", "startedAt": utcnow(), "finishedAt": None, "watchedAt": None}


async def test_changes_of_new_rows_go_into_them_and_later_ones_update_them(tmp_path: Path) -> None:
    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    engine = db.engine
    tables = chat_tables(MetaData())
    await create_schema(engine, tables.turn.metadata)
    writer = WriteBehind(db, linger=60)  # nothing is written but what sync() asks for
    conversation = uuid.uuid4()
    quick, slow = uuid.uuid4(), uuid.uuid4()
    async with anyio.create_task_group() as group:
        group.start_soon(writer.run)
        writer.insert(tables.turn, turn_row(quick, conversation))
        writer.insert(tables.turn, turn_row(slow, conversation))
        for seq in range(3):
            writer.insert(tables.event, {"turnId": quick, "seq": seq, "event": "text", "data": {"n": seq},
                                         "createdAt": utcnow()})
        writer.update(tables.turn, quick, {"status": "done", "finishedAt": utcnow()})  # in the same batch
        await writer.sync()
        async with engine.connect() as conn:
            between = {row.id: row.status for row in await conn.execute(select(tables.turn))}
        writer.update(tables.turn, slow, {"status": "stopped", "finishedAt": utcnow()})  # a later batch
        await writer.sync()
        writer.close()
    async with engine.connect() as conn:
        turns = {row.id: (row.status, row.finishedAt is not None) for row in await conn.execute(select(tables.turn))}
        events = [(row.seq, row.data) for row in await conn.execute(
            select(tables.event).order_by(tables.event.c.seq))]
    await db.dispose()
    assert between == {quick: "done", slow: "running"}
    assert turns == {quick: ("done", True), slow: ("stopped", True)}
    assert events == [(0, {"n": 0}), (1, {"n": 1}), (2, {"n": 2})]
