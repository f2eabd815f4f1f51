"""The service's web app (FastAPI): the admin API, health, metrics; ``create_app(settings, engine)``."""

from accessctl.web.app import create_app
from accessctl.web.auth import require_scope

__all__ = ["create_app", "require_scope"]
