"""The app spec format: what an application builder writes in YAML.

Names follow the seeds (`stripeOrder`, `objectIsAnOrderObject`, `orderOwnerIdProperty`,
...) so a Mindbricks StripeOrder configuration can be carried over as it is.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
MEMBER_PATH = re.compile(r"this\.([A-Za-z][A-Za-z0-9]*)\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
STRING_LITERAL = re.compile(r"""(["'])([A-Za-z]{3})\1""")
FieldType = Literal["string", "text", "integer", "double", "boolean", "date", "enum", "id", "object", "array"]
ItemType = Literal["string", "text", "integer", "double", "boolean", "date", "id", "object"]

# Fields every data object carries; an app spec may not declare them itself.
SYSTEM_FIELDS = ("id", "_owner", "isActive", "recordVersion", "createdAt", "updatedAt")
PAYMENT_CONFIRMATION = "_paymentConfirmation"
PAYMENT_CONFIRMATION_VALUES = ("pending", "processing", "paid", "canceled")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    type: FieldType
    required: bool = False
    default: Any = None
    description: str = ""
    values: tuple[str, ...] | None = Field(None, description="Allowed values of an enum field.")
    items: ItemType | None = Field(None, description="Element type of an array field.")
    indexed: bool = Field(False, description="Create a database index (list filters on it stay fast).")
    allowCreate: bool = Field(True, description="Clients may set it when creating.")
    allowUpdate: bool = Field(True, description="Clients may change it when updating.")
    maxLength: int | None = Field(None, gt=0, description="Longest accepted string.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `price: double` is short for `price: {type: double}`.
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.type == "enum":
            if not self.values:
                raise ValueError("an enum field needs a non-empty `values` list")
            if len(set(self.values)) != len(self.values):
                raise ValueError("enum `values` must be distinct")
        elif self.values is not None:
            raise ValueError("`values` is only for enum fields")
        if self.type == "array" and self.items is None:
            raise ValueError("an array field needs `items` (its element type)")
        if self.type != "array" and self.items is not None:
            raise ValueError("`items` is only for array fields")
        if self.type == "enum" and self.default is not None and self.default not in (self.values or ()):
            raise ValueError(f"default {self.default!r} is not one of the enum values")
        return self


class PaymentResultMap(_Strict):
    paymentResultStarted: str
    paymentResultCanceled: str
    paymentResultFailed: str
    paymentResultSuccess: str
    # After the sale (optional): the order's status once its payment is fully refunded / disputed.
    paymentResultRefunded: str | None = None
    paymentResultDisputed: str | None = None


class StripeOrderConfig(_Strict):
    orderName: str = Field(min_length=1)
    orderId: str
    amount: str
    currency: str
    description: str
    displaySummary: str | None = Field(
        None, description="MScript template: what the buyer reads on the payment card (Stripe gets `description`)."
    )
    amountUnit: Literal["major", "minor"] = Field(
        "major", description="Whether `amount` is in major units (10.50) or Stripe's minor units (1050)."
    )
    orderStatusProperty: str
    orderStatusUpdateDateProperty: str
    orderOwnerIdProperty: str
    mapPaymentResultToOrderStatus: PaymentResultMap
    edgeFunctionOnStatusChange: str | None = Field(None, description="Dotted path of a Python callable.")
    refundRoles: tuple[str, ...] = Field(
        (), description="Roles that may refund this object's payments, besides superAdmin (never a buyer's assistant).")
    paymentOwnedProperties: tuple[str, ...] = Field(
        (), description="Fields only the payment flow or its edge function write (what payment buys, its proof): "
                        "never settable by clients.")


class StripeOrder(_Strict):
    objectIsAnOrderObject: bool = False
    configuration: StripeOrderConfig | None = None

    @model_validator(mode="after")
    def _configured(self) -> StripeOrder:
        if self.objectIsAnOrderObject and self.configuration is None:
            raise ValueError("an order object needs `configuration`")
        return self


def payment_owned_names(stripe_order: Any) -> dict[str, str]:
    """Field name → why payment owns it, from a (raw or dumped) `stripeOrder` setting."""
    if not isinstance(stripe_order, dict) or not stripe_order.get("objectIsAnOrderObject"):
        return {}
    config = stripe_order.get("configuration")
    if not isinstance(config, dict):
        return {}
    owned: dict[str, str] = {}
    for setting in ("orderStatusProperty", "orderStatusUpdateDateProperty"):
        if isinstance(config.get(setting), str):
            owned[config[setting]] = f"the payment flow writes it as `{setting}`"
    for name in config.get("paymentOwnedProperties") or ():
        if isinstance(name, str):
            owned.setdefault(name, "it is listed in `paymentOwnedProperties`")
    return owned


class DemoRecord(_Strict):
    owner: str = Field(description="Demo user name that owns the record.")
    values: dict[str, Any]


class DataObjectSpec(_Strict):
    """A data object; on an order object, the fields payment writes are closed to clients.

    The status property, its date and `paymentOwnedProperties` default to `allowCreate: false`
    and `allowUpdate: false`; a spec that explicitly opens one of them is refused, because a
    buyer who could set it could mark an order paid, or buy its upgrade, without paying.
    """

    name: str
    pluralName: str | None = None
    description: str = ""
    fields: dict[str, FieldSpec]
    stripeOrder: StripeOrder | None = None
    demoRecords: tuple[DemoRecord, ...] = ()

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError("must be a camelCase identifier (letters and digits, starting with a letter)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _close_payment_owned(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("fields"), dict):
            return value
        owned = payment_owned_names(value.get("stripeOrder"))
        if not owned:
            return value
        fields = dict(value["fields"])
        for name, why in owned.items():
            raw = fields.get(name)
            if raw is None:
                continue  # an undeclared name is reported by the loader, with its path
            declared = {"type": raw} if isinstance(raw, str) else dict(raw) if isinstance(raw, dict) else raw
            if not isinstance(declared, dict):
                continue
            for flag in ("allowCreate", "allowUpdate"):
                if declared.get(flag) is True:
                    raise ValueError(f"field `{name}` is written by payment ({why}); it cannot be `{flag}: true`, "
                                     f"or a buyer could set it without paying")
                declared[flag] = False
            fields[name] = declared
        return {**value, "fields": fields}

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in value:
            if name in SYSTEM_FIELDS or name == PAYMENT_CONFIRMATION:
                raise ValueError(f"`{name}` is a system field and cannot be declared")
            if not IDENTIFIER.match(name):
                raise ValueError(f"field name `{name}` must be a camelCase identifier")
        return value

    @property
    def is_order(self) -> bool:
        return bool(self.stripeOrder and self.stripeOrder.objectIsAnOrderObject)

    @property
    def order(self) -> StripeOrderConfig:
        assert self.stripeOrder is not None and self.stripeOrder.configuration is not None
        return self.stripeOrder.configuration

    def read_path(self, script: str) -> tuple[str, ...] | None:
        """The field path an MScript setting reads when it is a plain path (`this.order.summary.total`
        → ("summary", "total")) of a declared field; None for a computed value."""
        match = MEMBER_PATH.fullmatch(script.strip())
        if not match or match.group(1) != self.name:
            return None
        path = tuple(match.group(2).split("."))
        return path if path[0] in self.fields else None

    @property
    def payment_owned_fields(self) -> frozenset[str]:
        """Fields the payment flow (or its edge function) writes and clients never set."""
        if not self.is_order:
            return frozenset()
        return frozenset(payment_owned_names(self.stripeOrder.model_dump() if self.stripeOrder else None))

    @property
    def plural(self) -> str:
        if self.pluralName:
            return self.pluralName
        if self.name.endswith("y") and not self.name.endswith(("ay", "ey", "oy", "uy")):
            return self.name[:-1] + "ies"
        return self.name + ("es" if self.name.endswith(("s", "x", "ch", "sh")) else "s")

    @property
    def owner_property(self) -> str:
        """The property a record's owner is read from: the order owner, else `_owner`."""
        return self.order.orderOwnerIdProperty if self.is_order else "_owner"

    @property
    def id_param(self) -> str:
        return f"{self.name}Id"


class ServiceSpec(_Strict):
    name: str
    description: str = ""
    dataObjects: tuple[DataObjectSpec, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError("must be a camelCase identifier")
        return value

    @property
    def route_prefix(self) -> str:
        return f"/{self.name.lower()}-api"


class AppSpec(_Strict):
    codename: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    title: str = ""
    description: str = ""
    version: str = "1.0.0"
    services: tuple[ServiceSpec, ...] = Field(min_length=1)

    def objects(self) -> list[tuple[ServiceSpec, DataObjectSpec]]:
        return [(service, obj) for service in self.services for obj in service.dataObjects]

    def order_objects(self) -> list[tuple[ServiceSpec, DataObjectSpec]]:
        return [(service, obj) for service, obj in self.objects() if obj.is_order]
