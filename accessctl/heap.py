"""The garbage collector's settings for a long-running process of the service."""

from __future__ import annotations

import gc

#: allocations between young-generation collections while serving (CPython's default is 700)
GC_YOUNG_THRESHOLD = 50_000


def settle_the_heap() -> None:
    """For a service process, once it is ready (not for a process that runs many services, such as
    a test's): everything the service built to start (modules, the app, its routes) is moved out of the
    garbage collector's sight (``gc.freeze``), and young objects are collected less often: a full
    collection no longer walks the whole program while requests wait, which was the intake's
    slowest answers.  Cycles made while serving are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
