"""Follow up cancellations: did the orders a run asked to cancel get cancelled, or ship?

A cancel is a request (`cancelRequestedAt`); the status becomes CANCELLED later, or
the warehouse ships the order anyway. `follow_up` reads again, in batches through
`GET /orders` (status is in the search answer, 50 orders a request), every order
whose cancel a run requested and that was not yet final when last seen, and
reports it:

- `cancelled`: the order is CANCELLED;
- `shipped`:   it is COMPLETED after the request (error code `shipped`);
- `pending`:   still waiting (or the search did not find it).

Each run directory gets `followup.csv` / `followup.parquet` (every order whose
cancel it requested, as last seen); an order once `cancelled` or `shipped` is not
read again, so a run whose orders are all final costs nothing. Nothing is sent
but a login and the searches.

    result = follow_up([Path("runs/nightly/20261124T023000Z-...")], options=options, env=env)
    result.counts        # {"cancelled": 93, "shipped": 7, "pending": 0}
    result.shipped       # [4100012, ...]
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.api.client import QuivoClient
from pipeline.api.interrupts import stop_on_signals
from pipeline.api.rate.shared import Pace
from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, settle_base_url
from pipeline.core.errors import ApiUnusable, OutputError, RunDirError
from pipeline.core.outcomes import ErrorCode
from pipeline.reports.report import write_csv
from pipeline.send.freshness import search_orders

FOLLOWUP_CSV = "followup.csv"
FOLLOWUP_PARQUET = "followup.parquet"
STATES = ("cancelled", "shipped", "pending")
SCHEMA = {
    "file": pl.String,
    "row": pl.Int64,
    "orderId": pl.Int64,
    "followup": pl.String,
    "orderStatus": pl.String,
    "cancelRequestedAt": pl.String,
    "checkedAt": pl.String,
}


def state_of(summary: dict[str, Any] | None) -> str:
    """An order's follow-up state from its status (None: not found, still `pending`)."""
    status = (summary or {}).get("orderStatus")
    if status == "CANCELLED":
        return "cancelled"
    if status == "COMPLETED":
        return "shipped"
    return "pending"


class _Counter:
    """The client's observer for a follow-up: counts requests, journals nothing."""

    def __init__(self) -> None:
        self.requests = 0

    async def sending(
        self, *, order_id: int | None, method: str, path: str, attempt: int, row: int | None
    ) -> int:
        return 0

    def answered(
        self, request_id: int, *, status: int | None, error: str | None, latency_ms: float
    ) -> None:
        if status is not None or error is not None:
            self.requests += 1


@dataclass
class FollowupResult:
    """What one follow-up found, over the runs it looked at."""

    runs: list[Path] = field(default_factory=list)  # runs with orders to follow up
    orders: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SCHEMA))
    requests: int = 0
    expected: bool = False  # `shipped` is an expected failure: exit 0
    problem: str | None = None  # why a sweep's follow-up could not be done (exit 3)
    not_checked: int = 0  # pending orders whose search got no answer: still as last seen

    @property
    def counts(self) -> dict[str, int]:
        found = self.orders["followup"].to_list()
        return {state: found.count(state) for state in STATES}

    @property
    def shipped(self) -> list[int]:
        return self.orders.filter(pl.col("followup") == "shipped")["orderId"].to_list()

    @property
    def exit_code(self) -> int:
        if self.problem is not None:
            return 3
        return 1 if self.shipped and not self.expected else 0

    def event(self) -> dict[str, Any]:
        """The fields of the one `followup` event line."""
        shipped = self.orders.filter(pl.col("followup") == "shipped")
        return {
            "runs": [str(run) for run in self.runs],
            "orders": self.orders.height,
            **self.counts,
            "shippedOrders": [
                {"orderId": o, "cancelRequestedAt": at, "runDir": str(run)}
                for o, at, run in zip(
                    shipped["orderId"], shipped["cancelRequestedAt"], shipped["runDir"], strict=True
                )
            ]
            if "runDir" in shipped.columns
            else [],
            "notChecked": self.not_checked,
            "requests": self.requests,
            **({"problem": self.problem} if self.problem is not None else {}),
            "exitCode": self.exit_code,
        }

    def lines(self) -> list[str]:
        """What a person reads."""
        if self.problem is not None:
            return [f"follow-up of cancel requests not done: {self.problem}; the next sweep"
                    " (or quivo-bulk followup RUN_DIR) tries again"]  # fmt: skip
        counts = self.counts
        head = (
            f"follow-up of {self.orders.height} cancel requests in {len(self.runs)} run(s):"
            f" {counts['cancelled']} cancelled, {counts['shipped']} shipped,"
            f" {counts['pending']} pending ({self.requests} requests)"
        )
        if self.not_checked:
            head += (
                f"; {self.not_checked} not checked (the search did not answer): still as"
                " last seen, the next follow-up reads them"
            )
        shipped = self.orders.filter(pl.col("followup") == "shipped")
        return [head] + [
            f"  shipped anyway: order {o} (cancel requested {at})"
            for o, at in zip(shipped["orderId"], shipped["cancelRequestedAt"], strict=True)
        ]


def _requested(run_dir: Path) -> pl.DataFrame:
    """The run's cancel-requested orders as last seen: from an earlier follow-up, else from
    the run's results (its refetch after the request)."""
    earlier = run_dir / FOLLOWUP_PARQUET
    if earlier.exists():
        return pl.read_parquet(earlier).select(list(SCHEMA))
    results = run_dir / "results.parquet"
    if not results.exists():
        raise RunDirError(f"{run_dir}: no results.parquet; is this a finished run directory?")
    frame = pl.read_parquet(results)
    if "cancelRequestedAt" not in frame.columns:  # --no-refetch: nothing seen after
        frame = frame.with_columns(
            pl.lit(None, pl.String).alias("orderStatus"),
            pl.lit(None, pl.String).alias("cancelRequestedAt"),
        )
    cancels = frame.filter((pl.col("action") == "cancel") & (pl.col("outcome") == "applied"))
    cancels = cancels.unique("orderId", keep="first", maintain_order=True)
    return cancels.select(
        pl.col("file").cast(pl.String),
        pl.col("row").cast(pl.Int64),
        pl.col("orderId").cast(pl.Int64),
        pl.col("orderStatus")
        .map_elements(lambda s: state_of({"orderStatus": s}), return_dtype=pl.String)
        .alias("followup"),
        pl.col("orderStatus").cast(pl.String),
        pl.col("cancelRequestedAt").cast(pl.String),
        pl.lit(None, pl.String).alias("checkedAt"),
    )


def _write(run_dir: Path, frame: pl.DataFrame) -> None:
    try:
        frame.write_parquet(run_dir / FOLLOWUP_PARQUET)
        write_csv(frame, run_dir / FOLLOWUP_CSV)
        for name in (FOLLOWUP_PARQUET, FOLLOWUP_CSV):
            (run_dir / name).chmod(0o600)
    except OSError as error:
        raise OutputError(f"cannot write the follow-up in {run_dir}: {error.strerror}") from None


async def _search(
    order_ids: list[int], *, options: RunOptions, env: Environment, pace: Pace | None
) -> tuple[dict[int, dict[str, Any]], set[int], int]:
    counter = _Counter()
    credentials = env.credentials()
    credentials.check()
    async with QuivoClient(options.api, credentials, observer=counter, pace=pace) as client:
        with stop_on_signals(client):
            if not await client.login():
                raise ApiUnusable(f"{client.stop_reason}; nothing was followed up")
            found, unanswered = await search_orders(
                client, order_ids, concurrency=options.api.concurrency
            )
    return found, unanswered, counter.requests


def follow_up(
    run_dirs: Sequence[Path],
    *,
    options: RunOptions,
    env: Environment,
    pace: Pace | None = None,
) -> FollowupResult:
    """Read again the cancel-requested orders of `run_dirs` not yet final; write each run's
    followup.csv / followup.parquet; return what this follow-up found."""
    options = settle_base_url(options, env)
    result = FollowupResult(expected=ErrorCode.SHIPPED.value in options.expected_failures)
    frames: dict[Path, pl.DataFrame] = {}
    for run_dir in run_dirs:
        frame = _requested(run_dir)
        if (
            frame.filter(pl.col("followup") == "pending").height
            or not (run_dir / FOLLOWUP_PARQUET).exists()
        ):
            frames[run_dir] = frame
    frames = {run: frame for run, frame in frames.items() if frame.height}
    if not frames:
        return result
    pending = [frame.filter(pl.col("followup") == "pending") for frame in frames.values()]
    wanted = sorted({o for frame in pending for o in frame["orderId"].to_list()})
    found: dict[int, dict[str, Any]] = {}
    unanswered: set[int] = set()
    if wanted:
        found, unanswered, result.requests = asyncio.run(
            _search(wanted, options=options, env=env, pace=pace)
        )
        result.not_checked = len(unanswered)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    checked: list[pl.DataFrame] = []
    for run_dir, frame in frames.items():
        first = not (run_dir / FOLLOWUP_PARQUET).exists()
        rows = frame.to_dicts()
        for row in rows:
            if row["followup"] != "pending" or row["orderId"] in unanswered:
                continue
            summary = found.get(row["orderId"])
            row["followup"] = state_of(summary)
            row["checkedAt"] = now
            if summary is not None:
                row["orderStatus"] = summary.get("orderStatus")
                row["cancelRequestedAt"] = (
                    summary.get("cancelRequestedAt") or row["cancelRequestedAt"]
                )
        updated = pl.DataFrame(rows, schema=SCHEMA)
        _write(run_dir, updated)
        # This follow-up's report: the orders it decided or left pending (the first
        # follow-up of a run also those its refetch already saw final).
        was_pending = set(frame.filter(pl.col("followup") == "pending")["orderId"].to_list())
        mine = updated if first else updated.filter(pl.col("orderId").is_in(was_pending))
        checked.append(mine.with_columns(pl.lit(str(run_dir)).alias("runDir")))
        result.runs.append(run_dir)
    result.orders = pl.concat(checked)
    return result


def follow_up_runs(
    run_dirs: Sequence[Path],
    *,
    env: Environment,
    overrides: Options | None = None,
) -> FollowupResult:
    """`quivo-bulk followup RUN_DIR...`: the API settings of the first run, `overrides` over
    them."""
    from pipeline.config.settings import resolve_options
    from pipeline.store.journal import JOURNAL_NAME, Journal

    if not run_dirs:
        raise RunDirError("name at least one run directory")
    journal = Journal.open(run_dirs[0] / JOURNAL_NAME)
    try:
        base = RunOptions.from_manifest(journal.manifest.options)
    finally:
        journal.close()
    options = resolve_options(overrides, base=base)
    return follow_up(run_dirs, options=options, env=env)


def follow_up_sweep(
    state_path: Path, *, options: RunOptions, env: Environment, pace: Pace | None = None
) -> FollowupResult | None:
    """A sweep's follow-up of the runs its state database names, before its new files;
    None when no run has cancel requests to follow up. A follow-up that cannot be done
    (the API refuses the login, a report cannot be written) is reported, not raised:
    the sweep goes on with its files."""
    try:
        result = follow_up(sweep_runs(state_path), options=options, env=env, pace=pace)
    except (ApiUnusable, OutputError, RunDirError) as error:
        return FollowupResult(problem=str(error))
    return result if result.runs else None


def sweep_runs(state_path: Path) -> list[Path]:
    """The finished runs a sweep's state database names, oldest first."""
    import sqlite3

    if not state_path.exists():
        return []
    db = sqlite3.connect(state_path)
    try:
        rows = db.execute(
            "SELECT run_dir FROM files WHERE status = 'done' ORDER BY started_at"
        ).fetchall()
    finally:
        db.close()
    return [Path(run) for (run,) in rows if (Path(run) / "results.parquet").exists()]
