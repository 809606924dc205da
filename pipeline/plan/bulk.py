"""Make many row objects cheaply: the garbage collector paused while they are made.

with bulk_objects():
    prepared = _prepare(...)

What happens to them afterwards is the process's choice, not the library's: the
`quivo-bulk` command (one run, then exit) freezes them out of the collector
(`after_bulk_objects(gc.freeze)` in `pipeline.cli.entry`); a notebook or the browser UI,
which prepare many times in one process, must not, as frozen objects are never freed.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

_after: list[Callable[[], None]] = []


def after_bulk_objects(action: Callable[[], None] | None) -> None:
    """Run `action` each time a batch of row objects is made (None: nothing)."""
    _after[:] = [action] if action is not None else []


@contextlib.contextmanager
def bulk_objects() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows become objects.

    Every full collection walks all live objects, so creating a million row
    objects with the collector on costs more than creating them. They hold no
    reference cycles, so nothing is lost by not collecting while they are made.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        for action in _after:
            action()
        if enabled:
            gc.enable()
