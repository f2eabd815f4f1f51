"""HR vendors' own webhooks, verified their way and mapped to the canonical event."""
