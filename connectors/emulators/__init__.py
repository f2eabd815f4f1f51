"""Faithful local stand-ins for Okta, Microsoft Entra ID / Graph and Google Workspace.

Tests, benchmarks, the demo and people evaluating accessctl run against these on 127.0.0.1.
They depend on nothing in ``accessctl``.
"""
