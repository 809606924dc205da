"""The run-level exceptions of quivo-bulk. Rows that fail are data, not exceptions.

    QuivoBulkError            base: its message is one line a user can act on
    ├── UsageError            the input, job or options cannot be used; nothing was sent (exit 2)
    │   ├── InputFileError    a file is missing, unreadable, empty or lacks orderId / action
    │   ├── JobFileError      a job file does not validate
    │   ├── OptionsError      options that contradict each other, a refused base URL,
    │   │                     missing credentials, a declined confirmation
    │   ├── RunDirError       a run directory that cannot be resumed, rerun or reported
    │   └── LimitExceeded     a guard (--max-changes, --max-cancels) refused the file
    ├── ApiUnusable           login refused, or most recent requests failing: the run stops (exit 3)
    └── OutputError           a report or the journal cannot be written

Only `pipeline/cli.py` turns these into messages and exit codes.
"""

from __future__ import annotations


class QuivoBulkError(Exception):
    """Base of every run-level error; `str(error)` is the message shown to the user."""


class UsageError(QuivoBulkError):
    """The input, job or options cannot be used; nothing was sent."""


class InputFileError(UsageError):
    """An input file cannot be used as a whole."""


class JobFileError(UsageError):
    """A job file does not validate."""


class OptionsError(UsageError):
    """The options (or environment) cannot be used together."""


class RunDirError(UsageError):
    """A run directory cannot be resumed, rerun or reported."""


class LimitExceeded(UsageError):
    """The file would change or cancel more orders than --max-changes / --max-cancels allow.

    `limit`: the job key that refused it and the orders the file needs, e.g.
    `("max_cancels", 600)`: a sweep takes the file again once the limit allows that.
    """

    def __init__(self, message: str, *, limit: tuple[str, int] | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class ApiUnusable(QuivoBulkError):
    """The API refuses the credentials or keeps failing; the run stops sending."""


class OutputError(QuivoBulkError):
    """A report or the journal cannot be written."""
