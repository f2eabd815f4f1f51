"""The Microsoft Entra ID connector (msal for tokens, Microsoft Graph over httpx)."""

from connectors.entra.config import EntraConfig
from connectors.entra.connector import EntraConnector

__all__ = ["EntraConfig", "EntraConnector"]
