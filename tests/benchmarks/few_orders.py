"""Memory bounded by the file, not by how its rows fall on orders: a 50 MB CSV of
645,000 rows over only 181 orders (every order's rows disagree: conflicts), checked as
the UI's Check step does it (read, validate, find conflicts) and by `quivo-bulk validate`
(which writes the reports too). Each in its own process: wall time and peak RSS."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.benchmarks.common import Figure, first_order_id, run_cli

ORDERS = 181
HEADER = "orderId,action,name,street,zip,city,countryIso2,comment"
LIMIT_S, LIMIT_BYTES = 60.0, 1.5 * 2**30


def few_orders_csv(path: Path, rows: int) -> Path:
    """`rows` update rows over 181 orders; names, streets and comments differ row to row."""
    first = first_order_id()
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER + "\n")
        for i in range(rows):
            out.write(
                f"{first + i % ORDERS},update,Kundin {i % 97},Graben {i % 250},1010,Wien,AT,"
                f"Bitte bei der Nachbarin im Erdgeschoss abgeben {i}\n"
            )
    return path


UI_CHECK = """
import resource, sys, time
from pathlib import Path
from pipeline.config.settings import RunOptions
from pipeline.ui.drafts import Draft
started = time.monotonic()
draft = Draft.create(Path(sys.argv[2]), uploads=[("orders.csv", Path(sys.argv[1]).read_bytes())])
check = draft.check(RunOptions())
print(time.monotonic() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
      check.counts()["invalid"])
"""


def ui_check(path: Path, runs: Path) -> tuple[float, int, int]:
    """The UI's Check step on `path` in a fresh process: (seconds, peak RSS, invalid rows)."""
    import subprocess

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", UI_CHECK, str(path), str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, rss, invalid = done.stdout.split()
    del started
    return float(seconds), int(rss), int(invalid)


def bench_few_orders(rows: int, workdir: Path) -> list[Figure]:
    path = few_orders_csv(workdir / "few-orders.csv", rows)
    size = f"{path.stat().st_size / 2**20:,.0f} MiB CSV, {rows:,} rows over {ORDERS} orders"
    ui_s, ui_rss, invalid = ui_check(path, workdir / "ui-runs")
    code, wall_s, rss = run_cli(
        ["validate", str(path), "--out", str(workdir / "few-orders")], base_url="", cwd=workdir
    )
    return [
        Figure(
            "few orders: the UI's Check step, wall time",
            ui_s,
            "s",
            "< 60 s",
            ui_s < LIMIT_S and invalid == rows,
            size,
        ),
        Figure(
            "few orders: the UI's Check step, peak RSS",
            ui_rss / 2**20,
            "MiB",
            "< 1536 MiB",
            ui_rss < LIMIT_BYTES,
            "before the fix, 5 MB of this shape took 228 s and 5.8 GB",
        ),
        Figure(
            "few orders: validate, wall time",
            wall_s,
            "s",
            "< 60 s",
            wall_s < LIMIT_S and code == 1,
            "reports included (errors.xlsx of every row)",
        ),
        Figure(
            "few orders: validate, peak RSS",
            rss / 2**20,
            "MiB",
            "< 1536 MiB",
            rss < LIMIT_BYTES,
            "",
        ),
    ]
