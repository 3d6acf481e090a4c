"""The StripeOrder payment flow: saved cards, start, refresh, webhooks, records and events."""
from payment_core.payments.service import CheckoutSummary, Click, PaymentOutcome, PaymentService, WebhookOutcome

__all__ = ["CheckoutSummary", "Click", "PaymentOutcome", "PaymentService", "WebhookOutcome"]
