"""Make many row objects cheaply: the garbage collector paused, then the objects frozen.

with bulk_objects():
    prepared = _prepare(...)
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def bulk_objects() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows become objects, then freeze them.

    Every full collection walks all live objects, so creating a million row
    objects with the collector on costs more than creating them. They hold no
    reference cycles and live until the run ends: freezing them keeps later
    collections from walking them again (the technique of CPython's gc.freeze docs).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
