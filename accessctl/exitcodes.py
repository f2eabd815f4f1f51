"""Exit codes scripts can rely on (also listed in the README)."""

OK = 0
FAILED = 1  # the command ran and found a problem (e.g. the audit chain is broken)
USAGE = 2  # bad arguments (Typer/Click's own code)
CONFIG = 3  # the configuration cannot be used
SCHEMA = 4  # the schema does not match: behind (run `accessctl db upgrade`) or newer than this version
PROVIDER = 5  # a provider could not be reached or refused us
STORE = 6  # the database could not be opened
BUSY = 7  # busy: another sync of that provider is running (the others in the same command still ran)
NOT_FOUND = 8  # the person, entitlement, job or snapshot named is unknown or ambiguous (candidates listed)
BUG = 70  # an internal error: a bug in accessctl (EX_SOFTWARE); the traceback went to a crash report
