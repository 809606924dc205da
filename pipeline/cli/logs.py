"""Logging for cron: timestamps without a terminal, JSON lines, the finished line.

See docs/guide/nightly.md.

Without a terminal every line written to stderr (log records, warnings, progress
lines, error messages) starts with an ISO-8601 UTC timestamp; `--log-format json`
makes every stderr line one JSON object instead. Each run and sweep ends with one
machine-readable line that monitoring can grep:

    2026-11-24T02:30:07Z {"event": "run_finished", "runDir": "...", "exitCode": 0, ...}
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

import click

FORMATS = ("text", "json")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler that writes to whatever `sys.stderr` is at the time: the progress
    bar's redirect (so a log line never lands on the bar's line) or the cron stamping."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # always the current sys.stderr


def utc_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StampedStream(io.TextIOBase):
    """A text stream that prefixes each complete line with a timestamp (or makes it JSON)."""

    def __init__(self, target: TextIO, *, json_lines: bool) -> None:
        super().__init__()
        self.target = target
        self.json_lines = json_lines
        self._partial = ""
        self._lock = threading.Lock()  # the progress timer writes from its own thread

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                self.target.write(self.format(line) + "\n")
            if lines:
                self.target.flush()
        return len(text)

    def format(self, line: str) -> str:
        stamp = utc_stamp()
        if not self.json_lines:
            return f"{stamp} {line}"
        try:
            record = json.loads(line) if line.startswith("{") else None
        except ValueError:
            record = None
        if isinstance(record, dict):
            return json.dumps({"time": stamp, "event": "message", **record}, ensure_ascii=False)
        return json.dumps(
            {"time": stamp, "event": line_event(line), "message": line}, ensure_ascii=False
        )

    def flush(self) -> None:
        with self._lock:
            if self._partial:
                partial, self._partial = self._partial, ""
                self.target.write(self.format(partial) + "\n")
            self.target.flush()


def line_event(line: str) -> str:
    """The event of a plain line in JSON mode: `warning`, `error`, `note` or `message`."""
    head = line.split(":", 1)[0].strip().lower() if ":" in line else ""
    if head in ("warning", "error", "note"):
        return head
    if head.startswith(("warning ", "error ", "critical ")):  # a log record: "WARNING pipeline.x"
        return head.split()[0].replace("critical", "error")
    return "message"


def json_mode() -> bool:
    """True when `--log-format json` made stdout and stderr JSON lines."""
    return bool(getattr(sys.stderr, "json_lines", False))


def _unwrapped(stream: TextIO) -> TextIO:
    return stream.target if isinstance(stream, StampedStream) else stream


def configure_stderr(log_format: str, *, interactive: bool | None = None) -> None:
    """Stamp stderr's lines for cron (no terminal), or make them JSON (`json`).

    With `json`, stdout's lines (the summary table) become JSON objects too, so a
    log that takes both (`>> cron.log 2>&1`) is JSON throughout.
    """
    base = _unwrapped(sys.stderr)
    if interactive is None:
        interactive = base.isatty()
    json_lines = log_format == "json"
    sys.stderr = (
        StampedStream(base, json_lines=json_lines) if json_lines or not interactive else base
    )
    out = _unwrapped(sys.stdout)
    sys.stdout = StampedStream(out, json_lines=True) if json_lines else out
    for handler in logging.getLogger("pipeline").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)


def set_log_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """click callback of `--log-format`."""
    if value is not None:
        configure_stderr(value)


def log_format_option(fn: Any) -> Any:
    """`--log-format text|json` on a command (the group has it too)."""
    return click.option(
        "--log-format",
        type=click.Choice(FORMATS),
        callback=set_log_format,
        expose_value=False,
        is_eager=True,
        help="text: timestamped lines without a terminal; json: one JSON object per line.",
    )(fn)


def finished_line(event: str, **fields: Any) -> None:
    """The one machine-readable line a run (`run_finished`) or sweep ends with, on stderr."""
    event_line(event, **fields)


def event_line(event: str, **fields: Any) -> None:
    """One machine-readable event on stderr: `{"event": ..., ...}` (a `time` added without
    a terminal or in JSON mode)."""
    click.echo(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str), err=True)
