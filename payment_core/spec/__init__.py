"""App specs: the YAML an application builder writes, validated and compiled."""
from payment_core.spec.loader import (
    BUNDLED_APPS,
    LoadedApp,
    OrderScripts,
    SpecError,
    load_app,
    load_app_text,
    resolve_spec_path,
)
from payment_core.spec.models import (
    PAYMENT_CONFIRMATION,
    PAYMENT_CONFIRMATION_VALUES,
    SYSTEM_FIELDS,
    AppSpec,
    DataObjectSpec,
    FieldSpec,
    ServiceSpec,
    StripeOrderConfig,
)

__all__ = [
    "BUNDLED_APPS",
    "PAYMENT_CONFIRMATION",
    "PAYMENT_CONFIRMATION_VALUES",
    "SYSTEM_FIELDS",
    "AppSpec",
    "DataObjectSpec",
    "FieldSpec",
    "LoadedApp",
    "OrderScripts",
    "ServiceSpec",
    "SpecError",
    "StripeOrderConfig",
    "load_app",
    "load_app_text",
    "resolve_spec_path",
]
