"""The HTTP service (FastAPI): HR webhooks, SCIM, reviewer pages, admin API, health, metrics;
``create_app(settings, engine)`` makes the app."""

from accessctl.web.app import create_app
from accessctl.web.auth import require_scope

__all__ = ["create_app", "require_scope"]
