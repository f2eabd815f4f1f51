"""The lifecycle use cases: leaver, lockout, revoke one grant, restore; plans first, then jobs.

CLI, web, HR intake and review remediation call the same functions.
"""

from accessctl.lifecycle.execute import ACTIONS, UnknownAction, executor_for, step_executor
from accessctl.lifecycle.readback import VerificationFailed

__all__ = ["ACTIONS", "UnknownAction", "VerificationFailed", "executor_for", "step_executor"]
