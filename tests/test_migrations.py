"""An operator's database follows the app spec: the spec gains a field, an index and an order
object, `orderpay db upgrade` (the real command) adds them, and every row is still there and the
new field works through REST — on SQLite and on PostgreSQL."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import inspect

from orderpay import build_runtime, create_server
from payment_core.runtime import DatabaseBehind
from payment_core.settings import Settings
from payment_core.spec import load_app, resolve_spec_path
from tests.conftest import BACKENDS
from tests.support import LiveServer, database_of_its_own, run_async

ORDERPAY = str(Path(sys.executable).with_name("orderpay"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own."""
    yield from database_of_its_own(request, tmp_path, "migrations")


def store_spec() -> dict[str, Any]:
    spec = yaml.safe_load(resolve_spec_path("store").read_text())
    spec["codename"] = "shop"
    return spec


def grown(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec a release later: a gift note on orders, delivery addresses indexed, and pre-orders."""
    spec = copy.deepcopy(spec)
    objects = spec["services"][0]["dataObjects"]
    order = objects[0]
    order["fields"]["giftNote"] = {"type": "string", "description": "A note printed on the gift card."}
    order["fields"]["deliveryAddress"] = {"type": "string", "indexed": True}
    preorder = copy.deepcopy(order)
    preorder["name"] = "preorder"
    configuration = preorder["stripeOrder"]["configuration"]
    for key, expression in configuration.items():  # the expressions name the object they read
        if isinstance(expression, str):
            configuration[key] = expression.replace("this.order.", "this.preorder.")
    configuration["orderName"] = "preorder"
    objects.append(preorder)
    return spec


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def orderpay_db(command: str, spec: Path, database_url: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ORDERPAY, "db", command, "--app", str(spec)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "ORDERPAY_DATABASE_URL": database_url, "ORDERPAY_DATA_DIR": str(data_dir),
             "ORDERPAY_LOG_JSON": "false", **env})


def columns_and_indexes(settings: Settings, table: str) -> tuple[set[str], set[str]]:
    async def read() -> tuple[set[str], set[str]]:
        runtime = build_runtime(settings)
        try:
            async with runtime.engine.connect() as conn:
                return await conn.run_sync(lambda c: (
                    {col["name"] for col in inspect(c).get_columns(table)},
                    {ix["name"] for ix in inspect(c).get_indexes(table)}))
        finally:
            await runtime.close()
    return run_async(read())


def test_a_spec_that_gains_a_field_an_index_and_an_order_object_upgrades_without_losing_a_row(
        database_url: str, tmp_path: Path) -> None:
    spec_path = write_spec(tmp_path / "shop.yaml", store_spec())
    settings = Settings(app=str(spec_path), data_dir=tmp_path / "data", database_url=database_url,
                        demo_data=False, log_json=False)
    prefix = load_app(str(spec_path)).spec.services[0].route_prefix

    # Release 1: a buyer places two orders.
    server = LiveServer.start(settings)
    try:
        with server.client("alice") as alice:
            first = alice.post(f"{prefix}/v1/orders", json={"totalAmount": 2500, "deliveryAddress": "1 Main St",
                                                             "items": [{"sku": "MUG-01", "quantity": 2}]})
            second = alice.post(f"{prefix}/v1/orders", json={"totalAmount": 1999})
            assert first.status_code == second.status_code == 201, first.text
            before = alice.get(f"{prefix}/v1/orders").json()["orders"]
    finally:
        server.stop()
    assert {o["id"] for o in before} == {first.json()["order"]["id"], second.json()["order"]["id"]}

    # Release 2's spec, before the upgrade: `db current` says what is missing, and changes nothing.
    write_spec(spec_path, grown(store_spec()))
    current = orderpay_db("current", spec_path, database_url, settings.data_dir)
    assert current.returncode == 0, current.stderr
    assert "to add: column order.giftNote" in current.stdout
    assert "to add: index ix_order_deliveryaddress on order (deliveryAddress)" in current.stdout
    assert "to add: table preorder" in current.stdout and "to add: table sys_preorderpayment" in current.stdout
    assert "giftNote" not in columns_and_indexes(settings, "order")[0]

    upgraded = orderpay_db("upgrade", spec_path, database_url, settings.data_dir)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "added: column order.giftNote" in upgraded.stdout
    assert "added: table preorder" in upgraded.stdout
    columns, indexes = columns_and_indexes(settings, "order")
    assert "giftNote" in columns and "ix_order_deliveryaddress" in indexes
    again = orderpay_db("current", spec_path, database_url, settings.data_dir)
    assert "up to date" in again.stdout and "to add" not in again.stdout

    # Release 2 serves: the old rows are intact, the new field and the new order object work.
    server = LiveServer.start(settings)
    try:
        with server.client("alice") as alice:
            after = alice.get(f"{prefix}/v1/orders").json()["orders"]
            assert sorted(before, key=lambda o: o["id"]) == sorted(
                ({k: v for k, v in o.items() if k != "giftNote"} for o in after), key=lambda o: o["id"])
            assert all(o["giftNote"] is None for o in after)
            order_id = first.json()["order"]["id"]
            noted = alice.patch(f"{prefix}/v1/orders/{order_id}", json={"giftNote": "Happy birthday!"})
            assert noted.status_code == 200, noted.text
            got = alice.get(f"{prefix}/v1/orders/{order_id}").json()["order"]
            assert (got["giftNote"], got["totalAmount"], got["deliveryAddress"]) == ("Happy birthday!", 2500, "1 Main St")
            preorder = alice.post(f"{prefix}/v1/preorders", json={"totalAmount": 4200, "giftNote": "soon"})
            assert preorder.status_code == 201, preorder.text
            assert preorder.json()["preorder"]["_paymentConfirmation"] == "pending"
    finally:
        server.stop()


def test_production_refuses_to_start_on_a_database_that_is_behind(database_url: str, tmp_path: Path) -> None:
    """Production replicas never change a shared schema themselves: the deploy runs `orderpay db upgrade`."""
    spec_path = write_spec(tmp_path / "shop.yaml", store_spec())
    data_dir = tmp_path / "data"
    assert orderpay_db("upgrade", spec_path, database_url, data_dir).returncode == 0
    write_spec(spec_path, grown(store_spec()))
    production = Settings(app=str(spec_path), data_dir=data_dir, database_url=database_url, environment="production",
                          auth_jwks_url="http://127.0.0.1:9/jwks", log_json=False,
                          # production never starts the sandbox; nothing here calls Stripe
                          stripe_secret_key="sk_test_unused", stripe_api_base="http://127.0.0.1:9")

    async def start() -> None:
        runtime = create_server(production).state.runtime  # `orderpay serve`'s tables, the chat's too
        try:
            await runtime.start()
        finally:
            await runtime.close()

    with pytest.raises(DatabaseBehind, match="run `orderpay db upgrade`") as behind:
        run_async(start())
    assert "to add: column order.giftNote" in str(behind.value)
    assert "giftNote" not in columns_and_indexes(production, "order")[0]  # it changed nothing

    assert orderpay_db("upgrade", spec_path, database_url, data_dir).returncode == 0
    run_async(start())  # up to date: it starts


def test_a_field_the_spec_drops_is_kept_with_its_data(database_url: str, tmp_path: Path) -> None:
    """Removing a field from the spec never drops a column: the data stays for a person to decide."""
    spec = grown(store_spec())
    spec_path = write_spec(tmp_path / "shop.yaml", spec)
    data_dir = tmp_path / "data"
    assert orderpay_db("upgrade", spec_path, database_url, data_dir).returncode == 0
    del spec["services"][0]["dataObjects"][0]["fields"]["giftNote"]
    write_spec(spec_path, spec)

    upgraded = orderpay_db("upgrade", spec_path, database_url, data_dir)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "kept (not in the spec): column order.giftNote" in upgraded.stdout
    settings = Settings(app=str(spec_path), data_dir=data_dir, database_url=database_url)
    assert "giftNote" in columns_and_indexes(settings, "order")[0]


def test_a_change_that_needs_a_person_is_refused_and_nothing_is_changed(database_url: str) -> None:
    """A new required column without a default cannot be given to existing rows: the upgrade refuses
    it, names it, and applies none of the other (additive) changes either."""
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

    from payment_core.db import create_database, upgrade_database
    from payment_core.migrations import MigrationRefused

    def tables(required: bool) -> MetaData:
        metadata = MetaData()
        Table("parcel", metadata, Column("id", Integer, primary_key=True), Column("label", String(20)),
              *([Column("weight", Integer, nullable=False)] if required else []))
        if required:
            Table("courier", metadata, Column("id", Integer, primary_key=True))
        return metadata

    async def story() -> tuple[str, set[str], list[str]]:
        db = create_database(database_url)
        try:
            first = tables(required=False)
            await upgrade_database(db.engine, first)
            async with db.engine.begin() as conn:
                await conn.execute(insert(first.tables["parcel"]).values(id=1, label="books"))
            with pytest.raises(MigrationRefused) as refused:
                await upgrade_database(db.engine, tables(required=True))
            async with db.engine.connect() as conn:
                names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
                labels = list((await conn.execute(select(first.tables["parcel"].c.label))).scalars())
            return str(refused.value), names, labels
        finally:
            await db.dispose()

    message, names, labels = run_async(story())
    assert "column parcel.weight is required (NOT NULL) and has no default" in message
    assert "nothing was changed" in message
    assert "courier" not in names and labels == ["books"]
