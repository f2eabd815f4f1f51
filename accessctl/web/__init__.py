"""The HTTP service (FastAPI): HR webhooks, SCIM, reviewer pages, admin API, health, metrics."""
