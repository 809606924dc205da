"""Shared pieces of the benchmarks: figures, servers in their own processes, timing.

Servers run in separate processes so that the client under test has a core of
its own (the machine has two).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
QUIVO_BULK = [sys.executable, "-m", "pipeline"]
CREDENTIALS = {
    "QUIVO_API_KEY": "sandbox-key",
    "QUIVO_USERNAME": "sandbox",
    "QUIVO_PASSWORD": "sandbox",
}


@dataclass(frozen=True)
class Figure:
    """One measured number next to its target and its same-run baseline."""

    name: str
    value: float
    unit: str
    target: str
    passed: bool | None  # None: informational, no target
    baseline: str = ""

    def line(self) -> str:
        verdict = {True: "pass", False: "FAIL", None: "info"}[self.passed]
        value = f"{self.value:,.3f}".rstrip("0").rstrip(".") + f" {self.unit}"
        return (
            f"{self.name:<44} {value:>16}   target {self.target:<14} {verdict:<5} {self.baseline}"
        )


@contextmanager
def server(command: list[str]) -> Iterator[str]:
    """Start a server process that prints '... listening on URL'; yield the URL."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"listening on (http://\S+)", line)
            if not match:
                raise RuntimeError(f"server did not start: {line!r}")
            yield match.group(1)
        finally:
            process.terminate()


def sandbox(*options: str) -> Any:
    return server([*QUIVO_BULK, "sandbox", "--port", "0", *options])


def stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_sandbox/stats") as answer:  # loopback only
        result: dict[str, Any] = json.load(answer)
        return result


def reset(base_url: str) -> None:
    request = urllib.request.Request(f"{base_url}/_sandbox/reset", method="POST")
    urllib.request.urlopen(request).close()


def run_cli(args: list[str], *, base_url: str, cwd: Path) -> tuple[int, float, int]:
    """Run quivo-bulk; return (exit code, wall seconds, peak RSS in bytes of that process)."""
    env = {**os.environ, **CREDENTIALS, "QUIVO_BASE_URL": base_url}
    measure = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter(); code = subprocess.call(sys.argv[1:]);"
        "print(code, time.perf_counter() - t,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
    )
    output = subprocess.run(
        [sys.executable, "-c", measure, *QUIVO_BULK, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return int(output[-3]), float(output[-2]), int(output[-1])


def write_csv(path: Path, header: str, rows: Iterator[str]) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        stream.write(header + "\n")
        for row in rows:
            stream.write(row + "\n")
    return path


def first_order_id() -> int:
    from pipeline.sandbox.orders import FIRST_ORDER_ID

    return FIRST_ORDER_ID


def wait_s(seconds: float) -> None:
    time.sleep(seconds)
