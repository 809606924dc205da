"""A run's summary: what summary.json holds and the table at the end shows
(docs/reference/outputs.md).

summary = build_summary(command="run", run_dir=d, options=o, table=t, outcomes=f,
                        stopped=None, journal=journal)
summary.exit_code, summary.outcomes["applied"], summary.to_json()   # RunSummary
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.config.settings import RunOptions
from pipeline.core.manifest import Origin, RunSummary
from pipeline.inputs.read import InputTable
from pipeline.reports.report import count_outcomes, exit_code_for
from pipeline.store.journal import Journal


def rate_summary(options: RunOptions, journal: Journal | None) -> dict[str, Any]:
    """The rate asked for and, when it adapted, what it found (docs/rates.md)."""
    api = options.api
    found = journal.rates() if journal else None
    result: dict[str, Any] = {
        "auto": api.rate_auto,
        "limit_per_s": None if api.rate_per_s is None else round(api.rate_per_s, 4),
        "period_s": api.rate_period_s,
    }
    if found is not None:
        result["found_per_s"] = round(found["settled_per_s"], 2)
        result["throttled_at_per_s"] = (
            None if found["found_per_s"] is None else round(found["found_per_s"], 2)
        )
        result["final_per_s"] = round(found["final_per_s"], 2)
    return result


def build_summary(
    *,
    command: str,
    run_dir: Path,
    options: RunOptions,
    table: InputTable,
    outcomes: pl.DataFrame,
    stopped: str | None,
    journal: Journal | None,
    costs: Mapping[str, Any] | None = None,
    origin: Origin | None = None,
    unfinished: bool = False,
) -> RunSummary:
    """The run's summary. `costs`: what its requests cost (`request_costs`; a validation
    sends none); `origin`: where its rows came from (apply, undo, rerun); `unfinished`:
    reports rebuilt of a run that did not end."""
    outcome_counts, codes = count_outcomes(outcomes)
    counts = journal.request_counts(login_path=options.api.profile.login_path) if journal else {}
    sessions = journal.sessions() if journal else []
    wall_s = sum((s["finished_at"] or s["started_at"]) - s["started_at"] for s in sessions)
    if sessions and counts.get("first_sent_at"):  # key lookups go out before the session
        wall_s += max(0.0, sessions[0]["started_at"] - counts["first_sent_at"])
    requests = counts.get("requests", 0)
    entries = {
        "command": command,
        "run_dir": str(run_dir),
        "job": options.job_name,
        "base_url": options.api.base_url,
        "dry_run": options.dry_run,
        "rows": outcomes.height,
        "outcomes": outcome_counts,
        "error_codes": codes,
        "requests": requests,
        "retries": counts.get("retries", 0),
        "rate_limited": counts.get("rate_limited", 0),
        "logins": counts.get("logins", 0),
        "wall_time_s": round(wall_s, 3),
        "achieved_requests_per_s": round(requests / wall_s, 2) if wall_s > 0 else 0.0,
        "rate": rate_summary(options, journal),
        "inputs": [
            {"file": f.name, "sha256": f.sha256, "rows": f.rows, "kind": f.kind}
            for f in table.files
        ],
        "warnings": list(table.warnings),
        "error_groups": error_groups(outcomes, table.raw["row"]),
        "expected_failures": list(options.expected_failures),
        "stopped": stopped,
        "exit_code": exit_code_for(
            unexpected_outcomes(outcomes, options.expected_failures), stopped=stopped is not None
        ),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(costs or {}),
        **(origin.entries() if origin is not None else {}),
        **({"unfinished": True} if unfinished else {}),
    }
    return RunSummary.model_validate(entries)


def unexpected_outcomes(outcomes: pl.DataFrame, expected: tuple[str, ...]) -> dict[str, int]:
    """Outcome counts for the exit code: `failed` rows with an expected code count as fine
    (`--expected-failures`; they stay in the reports as they are)."""
    if expected:
        expected_rows = (pl.col("outcome") == "failed") & pl.col("errorCode").is_in(expected)
        outcomes = outcomes.filter(~expected_rows.fill_null(False))
    return count_outcomes(outcomes)[0]


def error_groups(
    outcomes: pl.DataFrame, rows: pl.Series, *, examples: int = 3
) -> list[dict[str, Any]]:
    """Per errorCode, most frequent first: the count, the most common message, example rows."""
    failing = outcomes.filter(pl.col("errorCode").is_not_null()).with_columns(
        rows.gather(outcomes.filter(pl.col("errorCode").is_not_null())["__index"]).alias("row")
    )
    groups = []
    for (code,), group in failing.group_by("errorCode", maintain_order=True):
        messages = group["error"].drop_nulls()
        common = messages.value_counts(sort=True)[0, 0] if messages.len() else ""
        groups.append(
            {
                "errorCode": code,
                "count": group.height,
                "message": common,
                "rows": [int(r) for r in group["row"].head(examples).to_list()],
            }
        )
    return sorted(groups, key=lambda g: -int(g["count"]))
