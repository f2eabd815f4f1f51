"""accessctl: access review and deprovisioning for Okta, Microsoft Entra ID and Google Workspace."""

__version__ = "0.1.0"
