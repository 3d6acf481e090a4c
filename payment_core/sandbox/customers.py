"""/v1/customers handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors, events, objects, payment_methods
from .params import check_allowed, get_dict, get_str, updated_metadata

if TYPE_CHECKING:
    from .api import ApiRequest

_FIELDS = ("email", "name", "phone", "description", "metadata", "address", "invoice_settings")
_ADDRESS = ("city", "country", "line1", "line2", "postal_code", "state")


def get_customer(req: ApiRequest, customer_id: str) -> dict[str, Any]:
    customer = req.store.get(customer_id)
    if customer is None or customer["object"] != "customer":
        raise errors.no_such("customer", customer_id)
    return customer


def _default_payment_method(req: ApiRequest, customer_id: str | None) -> str | None:
    settings = get_dict(req.params, "invoice_settings", ("default_payment_method",)) or {}
    method_id = settings.get("default_payment_method") or None
    if method_id is not None:
        method = payment_methods.resolve(req.sandbox, method_id, param="invoice_settings[default_payment_method]")
        if method["customer"] != customer_id:
            raise errors.invalid_request(
                f"No such PaymentMethod: '{method_id}'; It's possible this PaymentMethod exists on one of your "
                "connected accounts, in which case you should retry this request on that connected account.",
                param="invoice_settings[default_payment_method]",
            )
        return method["id"]
    return None


def create(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, (*_FIELDS, "payment_method"))
    customer = objects.customer(
        email=get_str(req.params, "email", max_length=512),
        name=get_str(req.params, "name", max_length=256),
        phone=get_str(req.params, "phone", max_length=20),
        description=get_str(req.params, "description"),
        metadata=updated_metadata(req.params, {}),
        address_fields=get_dict(req.params, "address", _ADDRESS),
        default_payment_method=None,
    )
    req.store.put(customer)
    events.emit(req.sandbox, "customer.created", customer, req.origin)
    if method_id := get_str(req.params, "payment_method"):
        method = payment_methods.resolve(req.sandbox, method_id)
        payment_methods.attach(req.sandbox, method, customer["id"], req.origin)
    if default := _default_payment_method(req, customer["id"]):
        customer["invoice_settings"]["default_payment_method"] = default
        req.store.put(customer)
    return customer


def retrieve(req: ApiRequest) -> dict[str, Any]:
    return get_customer(req, req.path_params["id"])


def update(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, _FIELDS)
    customer = get_customer(req, req.path_params["id"])
    before = dict(customer)
    for field, limit in (("email", 512), ("name", 256), ("phone", 20), ("description", 5000)):
        if field in req.params:
            customer[field] = get_str(req.params, field, max_length=limit)
    if "address" in req.params:
        fields = get_dict(req.params, "address", _ADDRESS)
        customer["address"] = objects.address({**(customer["address"] or {}), **fields}) if fields else None
    customer["metadata"] = updated_metadata(req.params, customer["metadata"])
    if "invoice_settings" in req.params:
        customer["invoice_settings"] = {
            **customer["invoice_settings"],
            "default_payment_method": _default_payment_method(req, customer["id"]),
        }
    changed = {key: before[key] for key in customer if customer[key] != before[key]}
    req.store.put(customer)
    if changed:
        events.emit(req.sandbox, "customer.updated", customer, req.origin, previous_attributes=changed)
    return customer


def list_customers(req: ApiRequest) -> dict[str, Any]:
    return req.filtered_page("customer", "/v1/customers", ("email",))
