"""The seed-004 data-access functions that custom code (edge functions, scripts) reaches as
`runtime.payments.customers` and the like, and orderpay's own code does not call: bulk create,
stats, id lists, updates by id list and deletes by query — each against a real database, with
its dbevents in the outbox (docs/payments.md, "Data-access functions"), on SQLite and PostgreSQL.

In process, with the production runtime (`orderpay.build_runtime`): no HTTP is under test here."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from orderpay import build_runtime
from payment_core.errors import BadInput
from payment_core.runtime import Runtime
from tests.conftest import make_settings


def customer(n: int) -> dict[str, Any]:
    user = uuid.uuid4()
    return {"userId": user, "customerId": f"cus_test{n}", "platform": "stripe", "_owner": user}


async def events_of(runtime: Runtime, kind: str) -> list[dict[str, Any]]:
    outbox = runtime.payments.outbox
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.topic, outbox.c.payload).order_by(outbox.c.createdAt))).all()
    topic = f"{runtime.payments.customers.topic}-{kind}"
    return [row.payload["record"] for row in rows if row.topic == topic]


async def story(runtime: Runtime) -> None:
    customers = runtime.payments.customers
    await runtime.start()

    # create_bulk: every row or none, each with its `created` event.
    made = await customers.create_bulk([customer(n) for n in range(4)])
    assert [c["customerId"] for c in made] == ["cus_test0", "cus_test1", "cus_test2", "cus_test3"]
    assert all(c["isActive"] and c["recordVersion"] == 1 for c in made)
    assert [e["id"] for e in await events_of(runtime, "created")] == [c["id"] for c in made]
    duplicate = {**customer(9), "customerId": "cus_test1"}  # customerId is unique: the second row fails
    with pytest.raises(IntegrityError):
        await customers.create_bulk([customer(8), duplicate])
    assert (await customers.stats_by_query({}))["count"] == 4  # cus_test8 rolled back with it
    assert len(await events_of(runtime, "created")) == 4

    # stats_by_query and id_list_by_field: counts and ids of what matches, deleted records left out.
    assert await customers.stats_by_query({"platform": "stripe"}) == {"count": 4}
    assert await customers.stats_by_query({"customerId": ["cus_test0", "cus_test2", "cus_nobody"]}) == {"count": 2}
    assert sorted(await customers.id_list_by_field("platform", "stripe")) == sorted(c["id"] for c in made)
    assert await customers.id_list_by_field("customerId", "cus_test3") == [made[3]["id"]]
    with pytest.raises(BadInput):
        await customers.stats_by_query({"password": "x"})  # not a field: a clear error, no query

    # update_by_id_list: only the listed records change, each one version up, each with its event.
    changed = await customers.update_by_id_list([made[0]["id"], made[1]["id"]], {"platform": "stripe-connect"})
    assert changed == 2
    assert sorted(e["id"] for e in await events_of(runtime, "updated")) == sorted([made[0]["id"], made[1]["id"]])
    first = await customers.get_by_id(made[0]["id"])
    assert first is not None and first["platform"] == "stripe-connect" and first["recordVersion"] == 2
    untouched = await customers.get_by_id(made[2]["id"])
    assert untouched is not None and untouched["platform"] == "stripe" and untouched["recordVersion"] == 1
    assert await customers.update_by_id_list([str(uuid.uuid4())], {"platform": "x"}) == 0

    # delete_by_query: soft deletes; the records leave every read but stay in the table.
    assert await customers.delete_by_query({"platform": "stripe-connect"}) == 2
    assert sorted(e["id"] for e in await events_of(runtime, "deleted")) == sorted([made[0]["id"], made[1]["id"]])
    assert await customers.stats_by_query({}) == {"count": 2}
    assert await customers.get_by_id(made[0]["id"]) is None
    assert sorted(await customers.id_list_by_field("platform", "stripe")) == sorted([made[2]["id"], made[3]["id"]])
    kept = await customers.get_by_query({"id": uuid.UUID(made[0]["id"])}, include_inactive=True)
    assert kept is not None and kept["isActive"] is False
    assert await customers.delete_by_query({"platform": "stripe-connect"}) == 0  # already deleted: nothing again


def test_the_data_access_functions_custom_code_uses(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> None:
    runtime = build_runtime(make_settings(request, backend, "store", tmp_path, demo_data=False))

    async def run() -> None:
        try:
            await story(runtime)
        finally:
            await runtime.close()

    asyncio.run(run())
