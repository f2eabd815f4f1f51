"""The Google Workspace connector (google-api-python-client, service account with domain-wide delegation)."""

from connectors.google.config import GoogleConfig
from connectors.google.connector import GoogleConnector

__all__ = ["GoogleConfig", "GoogleConnector"]
