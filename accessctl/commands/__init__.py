"""CLI command groups.  Each module imports only Typer at the top; the work is imported inside commands."""
