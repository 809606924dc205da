"""Runs started from the browser: each in a worker thread, watched through its progress.

The library call is the CLI's (`run_files`, `resume_run`, `rerun_run`); the
thread only keeps the UI's event loop free while it runs. Stop asks the run to
stop as Ctrl-C does: the rows not sent become `not_attempted` and the run can
be resumed.

    tasks = Tasks()
    tasks.start(run_dir, "run", lambda progress: run_files(..., progress_factory=progress))
    tasks.get(run_dir.name).snapshot()   # {"state": "running", "done": 40, ...}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.errors import QuivoBulkError
from pipeline.core.outcomes import Outcome
from pipeline.flows.run import ProgressFactory, RunResult
from pipeline.send.progress import Progress

log = logging.getLogger(__name__)
STOP_REASON = "stopped from the browser (as Ctrl-C); resume the run to send the rest"


def eta_s(*, done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the pace so far: elapsed / done * (total - done); None before a row."""
    if done <= 0 or elapsed_s <= 0:
        return None
    return max(total - done, 0) * elapsed_s / done


@dataclass
class Task:
    """One run in progress (or just finished) in this UI process."""

    run_dir: Path
    kind: str  # "run" | "resume" | "rerun" | "undo"
    progress: Progress | None = None
    result: Any = None  # a RunResult (send, resume, rerun, undo) or a PlanResult (preview)
    error: str | None = None
    stop_asked: bool = False
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def state(self) -> str:
        if not self.finished.is_set():
            return "running"
        return "failed" if self.error is not None else "finished"

    def stop(self) -> bool:
        self.stop_asked = True
        return self.progress is not None and self.progress.stop(STOP_REASON)

    def snapshot(self) -> dict[str, Any]:
        """What the send page shows: rows, requests per second, ok / not ok, ETA."""
        progress = self.progress
        data: dict[str, Any] = {"state": self.state, "kind": self.kind, "error": self.error}
        if progress is not None:
            elapsed = time.monotonic() - progress.started
            data |= {
                "total": progress.total,
                "done": progress.done,
                "requests": progress.requests,
                "rate_per_s": round(progress.rate_per_s(), 1),
                "applied": progress.outcomes.get(Outcome.APPLIED, 0),
                "good": progress.good,
                "bad": progress.bad,
                "eta_s": eta_s(done=progress.done, total=progress.total, elapsed_s=elapsed),
            }
        if isinstance(self.result, RunResult):
            made = self.result.run_dir  # None: a rerun with nothing to rerun made no run
            data |= {"exit_code": self.result.exit_code, "run": made.name if made else None}
        return data


class _Watched(Progress):
    """Counts only; a Stop pressed before sending began stops it as soon as it begins."""

    def __init__(self, total: int, task: Task) -> None:
        super().__init__(total)
        self._task = task

    def bind_halt(self, halt: Callable[[str], None]) -> None:
        super().bind_halt(halt)
        if self._task.stop_asked:
            halt(STOP_REASON)


class Tasks:
    """The runs this UI started, by run directory name; one at a time per directory."""

    def __init__(self, *, scrub: Callable[[str], str] = str) -> None:
        self._tasks: dict[str, Task] = {}
        self._scrub = scrub  # errors are shown on a page: no credential in them
        self._lock = threading.Lock()

    def get(self, name: str) -> Task | None:
        return self._tasks.get(name)

    def forget(self, name: str) -> None:
        """Drop a finished task (a failed preview, so the next visit reads again)."""
        with self._lock:
            task = self._tasks.get(name)
            if task is not None and task.state != "running":
                del self._tasks[name]

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and task.state == "running"

    def start(
        self,
        run_dir: Path,
        kind: str,
        work: Callable[[ProgressFactory], Any],
        *,
        key: str | None = None,
    ) -> Task:
        """Run `work` in a thread; it gets the progress factory to hand to the library.

        `key` names the task (default: the run directory's name; a preview's is
        `preview:<draft>`)."""
        key = key or run_dir.name
        with self._lock:
            if self.running(key):
                raise QuivoBulkError(f"{run_dir.name} is already running")
            task = Task(run_dir=run_dir, kind=kind)
            self._tasks[key] = task

        def factory(total: int) -> Progress:
            task.progress = _Watched(total, task)
            return task.progress

        def target() -> None:
            try:
                task.result = work(factory)
                made = task.result.run_dir if isinstance(task.result, RunResult) else run_dir
                if made is not None and made.name != run_dir.name:  # a rerun or undo: a new one
                    self._tasks[made.name] = task
            except QuivoBulkError as error:
                task.error = self._scrub(str(error))
            except Exception:
                log.exception("the %s of %s failed", kind, run_dir.name)
                task.error = "internal error; the log of 'quivo-bulk ui' has the details"
            finally:
                task.finished.set()

        threading.Thread(target=target, name=f"quivo-ui-{kind}", daemon=True).start()
        return task
