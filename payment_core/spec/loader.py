"""Load an app spec from YAML, check it, and compile its MScript expressions.

Everything that can be wrong with a spec is found here, at load time, and
reported as one `SpecError` naming the file, the path inside it and the problem.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from payment_core.errors import BadInput, SpecError
from payment_core.spec.inputs import create_input_model, validate_input
from payment_core.mscript import Expression, MScriptError, compile_mscript
from payment_core.spec.models import (
    PAYMENT_CONFIRMATION,
    SYSTEM_FIELDS,
    AppSpec,
    DataObjectSpec,
    ServiceSpec,
)

BUNDLED_APPS = ("store", "ebaycclone", "clonesahibinden", "airbnb")
MSCRIPT_SETTINGS = ("orderId", "amount", "currency", "description")
STATUS_RESULTS = ("paymentResultStarted", "paymentResultCanceled", "paymentResultFailed", "paymentResultSuccess")
OPTIONAL_STATUS_RESULTS = ("paymentResultRefunded", "paymentResultDisputed")  # after the sale; unset: status kept


def _check_order_id(expression: Expression, object_name: str, source: str, path: str) -> None:
    """`orderId` names the order in Stripe (the intent's `metadata.orderId`), and webhooks and
    reconciliation find the order again by it: so it must resolve to the order's own id, as the
    seeds' `this.<object>.id` does, and never to a value two orders could share."""
    probe = "0b1e9d3c-6a2f-4c1e-8f7d-3a5b9c2e4d6f"
    try:
        resolved = expression.evaluate({object_name: {"id": probe}})
    except MScriptError:
        resolved = None
    if resolved != probe:
        raise SpecError(source, path, f"must resolve to the order's id, e.g. `this.{object_name}.id`: "
                                      "Stripe's metadata carries it and webhooks find the order by it")


@dataclass(frozen=True)
class OrderScripts:
    """The compiled StripeOrder expressions of one order object."""

    order_id: Expression
    amount: Expression
    currency: Expression
    description: Expression
    status_for_result: dict[str, Expression]  # "started" | "canceled" | "failed" | "success"
    amount_field: str = "amount"  # how errors name the order field(s) the amount is read from
    currency_field: str = "currency"
    display_summary: Expression | None = None  # optional: the buyer's words for the order

    def value_of(self, setting: Literal["amount", "currency"], context: dict[str, Any]) -> Any:
        """The amount or currency of an order. A value the script cannot compute on this order's
        data (a property of null, …) is the order's problem, not the server's: a 400 naming the field."""
        expression, field_name = (self.amount, self.amount_field) if setting == "amount" else (self.currency, self.currency_field)
        try:
            return expression.evaluate(context)
        except MScriptError as exc:
            raise BadInput(f"{field_name}: cannot be computed from this order: {exc.message}", field=field_name) from None


@dataclass(frozen=True)
class LoadedApp:
    spec: AppSpec
    source: str
    order_scripts: dict[str, OrderScripts] = field(default_factory=dict)  # by object name

    @property
    def codename(self) -> str:
        return self.spec.codename

    def find_object(self, name: str) -> tuple[ServiceSpec, DataObjectSpec] | None:
        for service, obj in self.spec.objects():
            if obj.name.lower() == name.lower():
                return service, obj
        return None


def bundled_spec_path(name: str) -> Path:
    return Path(str(resources.files("payment_core") / "specs" / f"{name}.yaml"))


def resolve_spec_path(name_or_path: str) -> Path:
    """A bundled app name (`airbnb`) or a path to a YAML file."""
    if name_or_path in BUNDLED_APPS:
        return bundled_spec_path(name_or_path)
    return Path(name_or_path)


def load_app(name_or_path: str) -> LoadedApp:
    path = resolve_spec_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        known = ", ".join(BUNDLED_APPS)
        raise SpecError(str(path), "", f"cannot read the spec ({exc.strerror}); bundled apps are: {known}") from None
    return load_app_text(text, source=str(path))


def load_app_text(text: str, *, source: str = "<spec>") -> LoadedApp:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, where, f"invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(source, "", "the spec must be a YAML mapping with `codename` and `services`")
    try:
        spec = AppSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SpecError(source, _dotted(first["loc"]), _clean(first["msg"])) from None
    _check_names(spec, source)
    _check_demo_records(spec, source)
    scripts = {obj.name: _compile_order(service, obj, spec, source) for service, obj in spec.order_objects()}
    return LoadedApp(spec=spec, source=source, order_scripts=scripts)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")


def _object_path(spec: AppSpec, service: ServiceSpec, obj: DataObjectSpec) -> str:
    s = spec.services.index(service)
    return f"services[{s}].dataObjects[{service.dataObjects.index(obj)}]"


def _check_names(spec: AppSpec, source: str) -> None:
    seen: dict[str, str] = {}
    for service, obj in spec.objects():
        key = obj.name.lower()
        if key in seen:
            raise SpecError(source, _object_path(spec, service, obj) + ".name", f"data object `{obj.name}` is declared twice")
        seen[key] = obj.name
    for service in spec.services:
        plurals = [obj.plural.lower() for obj in service.dataObjects]
        if len(set(plurals)) != len(plurals):
            raise SpecError(source, f"services[{spec.services.index(service)}]", "two data objects share a plural route name")


def _check_demo_records(spec: AppSpec, source: str) -> None:
    # Demo records go through the same validation as a client's create request.
    for service, obj in spec.objects():
        for index, record in enumerate(obj.demoRecords):
            try:
                validate_input(create_input_model(obj), record.values)
            except BadInput as exc:
                path = f"{_object_path(spec, service, obj)}.demoRecords[{index}].values"
                raise SpecError(source, path, exc.message) from None


def _compile_order(service: ServiceSpec, obj: DataObjectSpec, spec: AppSpec, source: str) -> OrderScripts:
    base = _object_path(spec, service, obj) + ".stripeOrder.configuration"
    config = obj.order
    declared = set(obj.fields)
    readable = {obj.name: declared | set(SYSTEM_FIELDS) | {PAYMENT_CONFIRMATION}}

    status = config.orderStatusProperty
    if status not in declared or obj.fields[status].type not in ("string", "enum"):
        raise SpecError(source, base + ".orderStatusProperty", f"`{status}` must name a declared string or enum field of `{obj.name}`")
    date = config.orderStatusUpdateDateProperty
    if not (date == "updatedAt" or (date in declared and obj.fields[date].type == "date")):
        raise SpecError(
            source, base + ".orderStatusUpdateDateProperty", f"`{date}` must name a declared date field of `{obj.name}` or `updatedAt`"
        )
    owner = config.orderOwnerIdProperty
    if not (owner == "_owner" or (owner in declared and obj.fields[owner].type == "id")):
        raise SpecError(source, base + ".orderOwnerIdProperty", f"`{owner}` must name a declared id field of `{obj.name}` or `_owner`")
    for index, name in enumerate(config.paymentOwnedProperties):
        if name not in declared:
            raise SpecError(source, f"{base}.paymentOwnedProperties[{index}]", f"`{name}` is not a declared field of `{obj.name}`")
    if config.edgeFunctionOnStatusChange is not None and not _is_dotted_name(config.edgeFunctionOnStatusChange):
        raise SpecError(source, base + ".edgeFunctionOnStatusChange", "must be a dotted Python name such as `myapp.hooks.on_status`")

    def compile_at(path: str, text: str) -> Expression:
        try:
            return compile_mscript(text, objects=readable)
        except MScriptError as exc:
            raise SpecError(source, path, f"MScript {text!r}: {exc.message}") from None

    compiled = {name: compile_at(f"{base}.{name}", getattr(config, name)) for name in MSCRIPT_SETTINGS}
    _check_order_id(compiled["orderId"], obj.name, source, f"{base}.orderId")
    status_scripts: dict[str, Expression] = {}
    enum_values = obj.fields[status].values
    for result in STATUS_RESULTS + OPTIONAL_STATUS_RESULTS:
        path = f"{base}.mapPaymentResultToOrderStatus.{result}"
        text = getattr(config.mapPaymentResultToOrderStatus, result)
        if text is None:
            continue
        expression = compile_at(path, text)
        if enum_values and not expression.references:
            constant = expression.evaluate({})
            if constant not in enum_values:
                raise SpecError(source, path, f"{constant!r} is not a value of the enum `{status}` ({', '.join(enum_values)})")
        status_scripts[result.removeprefix("paymentResult").lower()] = expression
    return OrderScripts(
        order_id=compiled["orderId"],
        amount=compiled["amount"],
        currency=compiled["currency"],
        description=compiled["description"],
        status_for_result=status_scripts,
        amount_field=_field_label(obj, "amount", compiled["amount"]),
        currency_field=_field_label(obj, "currency", compiled["currency"]),
        display_summary=compile_at(f"{base}.displaySummary", config.displaySummary) if config.displaySummary else None,
    )


def _field_label(obj: DataObjectSpec, setting: str, expression: Expression) -> str:
    """`summary.total` for a plain path; `amount (rentPrice, taxAmount)` for a computed value."""
    path = obj.read_path(expression.source)
    if path:
        return ".".join(path)
    fields = sorted(name for _, name in expression.references)
    return f"{setting} ({', '.join(fields)})" if fields else setting


def _is_dotted_name(value: str) -> bool:
    parts = value.split(".")
    return len(parts) >= 2 and all(part.isidentifier() for part in parts)
