"""Demo data: each bundled spec's `demoRecords`, owned by the demo users.

Record ids are derived from the app, object and position, so seeding twice (or
on every start) creates nothing new.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payment_core.identity import DEMO_USERS, Session, find_demo_user
from payment_core.objects import ObjectStore
from payment_core.spec import LoadedApp

DEMO_NAMESPACE = uuid.UUID("6f1d0c9e-4b8a-4f4e-9c55-0a2d3c4b5e6f")


def demo_session(username: str) -> Session:
    user = find_demo_user(username)
    if user is None:
        known = ", ".join(u.username for u in DEMO_USERS)
        raise ValueError(f"demo record owner `{username}` is not a demo user ({known})")
    return Session(user_id=user.user_id, email=user.email, full_name=user.full_name, roles=tuple(user.roles))


def demo_record_id(codename: str, object_name: str, index: int) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"{codename}/{object_name}/{index}")


async def seed_demo_data(app: LoadedApp, stores: Mapping[str, ObjectStore], engine: AsyncEngine) -> int:
    """Create the missing demo records; returns how many were created."""
    created = 0
    for _, obj in app.spec.objects():
        store = stores[obj.name]
        for index, record in enumerate(obj.demoRecords):
            record_id = demo_record_id(app.codename, obj.name, index)
            async with engine.connect() as conn:
                exists = (await conn.execute(select(store.table.c.id).where(store.table.c.id == record_id))).first()
            if exists is None:
                await store.create(demo_session(record.owner), dict(record.values), object_id=record_id)
                created += 1
    return created
