"""Small emulators of HR vendors' read endpoints, for the intake's read-back of employee records."""
