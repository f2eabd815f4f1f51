"""The Okta connector (built on the official ``okta`` SDK, imported only when Okta is called)."""

from connectors.okta.config import OktaConfig
from connectors.okta.connector import OktaConnector

__all__ = ["OktaConfig", "OktaConnector"]
