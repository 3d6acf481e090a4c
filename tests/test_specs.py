"""An application builder declares order objects in YAML; mistakes are caught at load
with the file, the path inside it and what is wrong."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from payment_core.spec import BUNDLED_APPS, SpecError, load_app, load_app_text
from tests.conftest import start_server
from tests.support import InProcessApp

MINIMAL = """
codename: shop
services:
  - name: sales
    dataObjects:
      - name: ticket
        fields:
          buyerId: id
          price: double
          currency: string
          title: string
          state: {type: enum, values: [open, paid, failed]}
        stripeOrder:
          objectIsAnOrderObject: true
          configuration:
            orderName: ticketOrder
            orderId: this.ticket.id
            amount: this.ticket.price
            currency: this.ticket.currency
            description: "`Ticket ${this.ticket.title}`"
            orderStatusProperty: state
            orderStatusUpdateDateProperty: updatedAt
            orderOwnerIdProperty: buyerId
            mapPaymentResultToOrderStatus:
              paymentResultStarted: '"open"'
              paymentResultCanceled: '"open"'
              paymentResultFailed: '"failed"'
              paymentResultSuccess: '"paid"'
"""


def spec_error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_app_text(textwrap.dedent(text), source="shop.yaml")
    return info.value


@pytest.mark.parametrize("name", BUNDLED_APPS)
def test_every_bundled_app_loads_with_its_order_object(name: str) -> None:
    app = load_app(name)
    assert app.codename == name
    orders = app.spec.order_objects()
    assert len(orders) == 1
    _, obj = orders[0]
    assert set(app.order_scripts[obj.name].status_for_result) == {"started", "canceled", "failed", "success"}


def test_bundled_apps_carry_the_seeds_stripe_order_settings() -> None:
    airbnb = load_app("airbnb").spec.services[0].dataObjects[0]
    assert (airbnb.name, airbnb.order.orderOwnerIdProperty, airbnb.order.orderStatusProperty) == (
        "reservation", "guestId", "bookingStatus")
    ebay = load_app("ebaycclone").spec.services[0]
    assert (ebay.name, ebay.dataObjects[0].name) == ("orderManagement", "orderManagementOrder")
    listing = load_app("clonesahibinden").spec.services[0]
    assert (listing.name, listing.dataObjects[0].order.orderOwnerIdProperty) == ("listing", "userId")
    store = load_app("store").spec.services[0].dataObjects[0]
    assert (store.name, store.order.amountUnit) == ("order", "minor")


def test_seed_mappings_evaluate_on_an_order_as_javascript_would() -> None:
    listing = load_app("clonesahibinden").order_scripts["listing"]
    assert listing.status_for_result["success"].evaluate({"listing": {"status": "pending_review"}}) == "active"
    assert listing.status_for_result["success"].evaluate({"listing": {"status": "sold"}}) == "sold"
    store = load_app("store").order_scripts["order"]
    order = {"buyerId": "b-1", "totalAmount": 12345}
    assert store.description.evaluate({"order": order}) == "Order for buyer b-1 with total 123.45"


def test_a_minimal_spec_loads() -> None:
    app = load_app_text(MINIMAL, source="shop.yaml")
    assert app.find_object("TICKET") is not None


def test_invalid_yaml_names_the_line() -> None:
    error = spec_error("codename: shop\nservices: [\n")
    assert "shop.yaml" in str(error) and "line" in error.path and "invalid YAML" in error.message


def test_an_unknown_setting_is_named_by_its_path() -> None:
    error = spec_error(MINIMAL.replace("orderName: ticketOrder", "orderName: ticketOrder\n            colour: red"))
    assert error.path == "services[0].dataObjects[0].stripeOrder.configuration.colour"
    assert "Extra inputs" in error.message


def test_an_enum_without_values_is_refused() -> None:
    error = spec_error(MINIMAL.replace("state: {type: enum, values: [open, paid, failed]}", "state: enum"))
    assert error.path == "services[0].dataObjects[0].fields.state"
    assert "values" in error.message


def test_an_mscript_reading_an_undeclared_field_is_refused() -> None:
    error = spec_error(MINIMAL.replace("amount: this.ticket.price", "amount: this.ticket.cost"))
    assert error.path.endswith("stripeOrder.configuration.amount")
    assert "cost" in error.message


@pytest.mark.parametrize("hostile", ["this.ticket.__class__", "this.ticket.constructor", "this.ticket.title.__proto__"])
def test_hostile_mscript_is_refused_at_load(hostile: str) -> None:
    error = spec_error(MINIMAL.replace("description: \"`Ticket ${this.ticket.title}`\"", f"description: '{hostile}'"))
    assert error.path.endswith(".description")


def test_a_mapped_status_outside_the_enum_is_refused() -> None:
    error = spec_error(MINIMAL.replace("paymentResultSuccess: '\"paid\"'", "paymentResultSuccess: '\"done\"'"))
    assert error.path.endswith("mapPaymentResultToOrderStatus.paymentResultSuccess")
    assert "'done'" in error.message and "state" in error.message


@pytest.mark.parametrize("order_id", ["this.ticket.title", "this.ticket.buyerId", '"ticket-1"', "`T-${this.ticket.id}`"])
def test_the_order_id_must_resolve_to_the_orders_own_id(order_id: str) -> None:
    """Stripe's metadata.orderId is how webhooks find the order again: a title, the buyer, a
    constant or a decorated id could name another order, or none."""
    error = spec_error(MINIMAL.replace("orderId: this.ticket.id", f"orderId: '{order_id}'"))
    assert error.path.endswith("stripeOrder.configuration.orderId")
    assert "this.ticket.id" in error.message


def test_the_order_id_script_names_the_order_in_stripe() -> None:
    scripts = load_app_text(MINIMAL, source="shop.yaml").order_scripts["ticket"]
    assert scripts.order_id.evaluate({"ticket": {"id": "19a60f84-56ee-40c4-b9c1-392f83877838"}}) == (
        "19a60f84-56ee-40c4-b9c1-392f83877838")


def test_the_owner_property_must_be_an_id_field() -> None:
    error = spec_error(MINIMAL.replace("orderOwnerIdProperty: buyerId", "orderOwnerIdProperty: title"))
    assert error.path.endswith("orderOwnerIdProperty")


def test_system_fields_cannot_be_declared() -> None:
    error = spec_error(MINIMAL.replace("buyerId: id", "buyerId: id\n          isActive: boolean"))
    assert "isActive" in error.message and "system field" in error.message


def test_a_missing_file_is_reported_with_the_bundled_names(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_app(str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in str(info.value) and "airbnb" in str(info.value)


def test_spec_check_command_reports_ok_and_errors(tmp_path: Path) -> None:
    good = subprocess.run([sys.executable, "-m", "orderpay", "spec", "check", "airbnb"],
                          capture_output=True, text=True, check=False)
    assert good.returncode == 0 and "ok" in good.stdout and "reservation" in good.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text(MINIMAL.replace("amount: this.ticket.price", "amount: this.ticket.cost"))
    bad = subprocess.run([sys.executable, "-m", "orderpay", "spec", "check", str(broken)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "broken.yaml" in bad.stderr and "stripeOrder.configuration.amount" in bad.stderr


# -- what payment writes, buyers cannot ---------------------------------------------------


@pytest.mark.parametrize("flag", ["allowUpdate", "allowCreate"])
def test_a_client_writable_order_status_is_refused(flag: str) -> None:
    error = spec_error(MINIMAL.replace("state: {type: enum, values: [open, paid, failed]}",
                                       f"state: {{type: enum, values: [open, paid, failed], {flag}: true}}"))
    assert error.path == "services[0].dataObjects[0]"
    assert "`state`" in error.message and f"`{flag}: true`" in error.message and "orderStatusProperty" in error.message


def test_a_client_writable_status_date_is_refused() -> None:
    error = spec_error(MINIMAL.replace("title: string", "title: string\n          stateAt: {type: date, allowUpdate: true}")
                       .replace("orderStatusUpdateDateProperty: updatedAt", "orderStatusUpdateDateProperty: stateAt"))
    assert "`stateAt`" in error.message and "orderStatusUpdateDateProperty" in error.message


def test_a_client_writable_payment_owned_property_is_refused() -> None:
    error = spec_error(MINIMAL.replace("title: string", "title: string\n          paidAt: {type: date, allowCreate: true}")
                       .replace("orderOwnerIdProperty: buyerId", "orderOwnerIdProperty: buyerId\n            "
                                "paymentOwnedProperties: [paidAt]"))
    assert "`paidAt`" in error.message and "paymentOwnedProperties" in error.message


def test_a_payment_owned_property_must_be_declared() -> None:
    error = spec_error(MINIMAL.replace("orderOwnerIdProperty: buyerId", "orderOwnerIdProperty: buyerId\n            "
                                       "paymentOwnedProperties: [paidAt]"))
    assert error.path.endswith("stripeOrder.configuration.paymentOwnedProperties[0]") and "`paidAt`" in error.message


def test_payment_owned_fields_left_unstated_are_closed_to_clients() -> None:
    app = load_app_text(MINIMAL.replace("title: string", "title: string\n          paidAt: date")
                        .replace("orderOwnerIdProperty: buyerId", "orderOwnerIdProperty: buyerId\n            "
                                 "paymentOwnedProperties: [paidAt]"), source="shop.yaml")
    _, ticket = app.find_object("ticket")  # type: ignore[misc]
    for name in ("state", "paidAt"):
        assert (ticket.fields[name].allowCreate, ticket.fields[name].allowUpdate) == (False, False)
    assert ticket.payment_owned_fields == {"state", "updatedAt", "paidAt"}


# What each bundled app's payment writes or sells, and what a buyer tried to set it to without paying.
PAYMENT_OWNED = {
    "store": {"status": "paid", "paymentStatus": "paid"},
    "ebaycclone": {"status": "PAID", "paidAt": "2026-12-01T10:00:00Z", "paymentIntentId": "pi_forged"},
    "clonesahibinden": {"status": "active", "isPremium": True, "premiumType": "top", "paymentConfirmation": "confirmed"},
    "airbnb": {"bookingStatus": "confirmed", "totalPrice": 0.5},
}


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
           app_name: str) -> Iterator[InProcessApp]:
    """In process: what the REST app refuses is under test, not the transport."""
    yield from start_server(request, tmp_path_factory, backend, app_name, demo_data=False, reached=InProcessApp)


def test_a_buyer_cannot_patch_what_payment_writes_or_sells(server: InProcessApp, app_name: str) -> None:
    app = load_app(app_name)
    service, obj = app.spec.order_objects()[0]
    route = f"{service.route_prefix}/v1/{obj.plural.lower()}"
    with server.client("alice") as alice:
        created = alice.post(route, json=dict(obj.demoRecords[0].values))
        assert created.status_code == 201, created.text
        order = created.json()[obj.name]
        for name, forged in PAYMENT_OWNED[app_name].items():
            refused = alice.patch(f"{route}/{order['id']}", json={name: forged})
            assert refused.status_code == 400, (name, refused.text)
            body = refused.json()
            assert body["result"] == "ERR" and body["message"].startswith(f"{name}: "), body
            if obj.fields[name].allowCreate:
                continue  # chosen when the order is made (premiumType, totalPrice), never changed after
            made = alice.post(route, json={**obj.demoRecords[0].values, name: forged})
            assert made.status_code == 400 and made.json()["message"].startswith(f"{name}: "), (name, made.text)
        assert alice.get(f"{route}/{order['id']}").json()[obj.name] == order  # the stored row is unchanged
        listed = alice.get(route).json()[obj.plural]
        assert [row["id"] for row in listed] == [order["id"]]  # no refused create left a row
