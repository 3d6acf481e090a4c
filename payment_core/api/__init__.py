"""The REST API over payment_core (FastAPI). The domain modules never import it."""
from payment_core.api.app import create_app

__all__ = ["create_app"]
