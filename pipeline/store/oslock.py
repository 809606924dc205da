"""A lock that goes with the process, on every platform: `flock` where there is `fcntl`
(Linux, macOS), `msvcrt.locking` on Windows, else a lock file holding the pid.

    if try_lock(handle, path): ... ; unlock(handle, path)

`handle` is the lock file opened read-write. The last fallback (no `fcntl`, no
`msvcrt`) makes `<path>.held` exclusively (O_EXCL) with the holder's pid; one whose
process no longer runs is stale and taken over, so a killed holder blocks no one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

fcntl: Any
msvcrt: Any
try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None


def try_lock(handle: IO[str], path: Path) -> bool:
    """Take the lock without waiting; False when another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    if msvcrt is not None:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    return _take_held(_held(path))


def unlock(handle: IO[str], path: Path) -> None:
    """Give the lock back (closing the handle also does, but for the pid file)."""
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
    elif msvcrt is not None:
        handle.seek(0)
        with contextlib.suppress(OSError):
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        with contextlib.suppress(OSError):
            _held(path).unlink()


def _held(path: Path) -> Path:
    return path.with_name(path.name + ".held")


def _take_held(held: Path) -> bool:
    for _ in range(2):  # a second try after taking a stale lock away
        try:
            fd = os.open(held, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if _holder_runs(held):
                return False
            with contextlib.suppress(OSError):
                held.unlink()
            continue
        with os.fdopen(fd, "w") as stream:
            stream.write(str(os.getpid()))
        return True
    return False


def _holder_runs(held: Path) -> bool:
    try:
        pid = int(held.read_text().strip() or "0")
    except (OSError, ValueError):
        return True  # being written right now: taken
    if pid <= 0:
        return True
    if pid == os.getpid():
        return True  # this process holds it (a second lock from the same process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it runs, as another user
    return True
