"""HR data: the roster (who works here) and, later, HR events."""
