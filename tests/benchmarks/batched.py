"""Fewer requests per change: staleness and statuses checked in batches (`GET /orders`).

Each figure is a count from `summary.json`'s `requests_by_kind` (what the sandbox
received is checked against it) measured in this run, next to the same run's figure
of the old path: `stale_check = "read"` (a full read of every order before its change)
for apply and the UI's Send, `--snapshot always` (a full read of every cancel) for a
plan of cancels, one read per order for the follow-up. Every run here is paced at
`--rate 50` against a sandbox that answers 429 above 50 requests in any second, so the
wall times are those at that rate.

- apply of a 3,000-order address plan: requests per applied order (<= 2.1);
- plan of a 3,000-order cancel file: requests per order (<= 0.05);
- the UI's Preview + Send of 300 address orders: requests per order (<= 3.1); the
  library calls the UI's handlers make (`plan_files`, then `run_files` with the
  preview's preconditions and plan directory), in this process;
- the follow-up of cancel requests: requests per followed-up order (<= 1/40).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tests.benchmarks.common import CREDENTIALS, Figure, reset, run_cli, sandbox, stats, write_csv

RATE = "50"
LIMIT = "50"


def processing_ids(count: int, *, seed: int, first: int, total: int) -> list[int]:
    """The first `count` PROCESSING orders of a sandbox generated with `seed`."""
    from pipeline.sandbox.orders import generate_order

    found = []
    for order_id in range(first, first + total):
        if generate_order(order_id, seed=seed)["orderStatus"] == "PROCESSING":
            found.append(order_id)
            if len(found) == count:
                return found
    raise RuntimeError(f"fewer than {count} PROCESSING orders in {total}")


def address_csv(path: Path, ids: list[int]) -> Path:
    """Address corrections for `ids` (the file's name in the street: each file's bytes differ,
    so no run is taken for a repeat of another)."""
    return write_csv(
        path,
        "orderId,name,street,zip,city,countryIso2",
        (f"{o},Kundin {o},{path.stem} Gasse {n + 1},1070,Wien,AT" for n, o in enumerate(ids)),
    )


def _summary(run_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return result


def _total(summary: dict[str, Any]) -> int:
    return int(sum(summary["requests_by_kind"].values()))


def _apply_once(
    workdir: Path, name: str, count: int, *, stale_check: str
) -> tuple[float, float, int, int]:
    """(requests per applied order, apply wall s, applied, requests the sandbox saw)."""
    from pipeline.sandbox.orders import FIRST_ORDER_ID

    total = int(count * 1.9) + 50
    ids = processing_ids(count, seed=3, first=FIRST_ORDER_ID, total=total)
    source = address_csv(workdir / f"{name}.csv", ids)
    with sandbox("--count", str(total), "--seed", "3", "--rate-limit", LIMIT) as url:
        os.environ["QUIVO_STALE_CHECK"] = stale_check
        try:
            plan_dir, run_dir = workdir / f"{name}-plan", workdir / f"{name}-apply"
            run_cli(["plan", str(source), "--action", "address", "--rate", RATE, "--quiet",
                     "--out", str(plan_dir)], base_url=url, cwd=workdir)  # fmt: skip
            reset(url)
            _, wall_s, _ = run_cli(["apply", str(plan_dir), "--yes", "--rate", RATE, "--quiet",
                                    "--out", str(run_dir)], base_url=url, cwd=workdir)  # fmt: skip
            seen = stats(url)["requests"]
        finally:
            del os.environ["QUIVO_STALE_CHECK"]
    summary = _summary(run_dir)
    applied = int(summary["outcomes"].get("applied", 0))
    return _total(summary) / max(applied, 1), wall_s, applied, int(seen)


def bench_apply(count: int, workdir: Path) -> list[Figure]:
    per_order, wall_s, applied, seen = _apply_once(workdir, "apply", count, stale_check="search")
    old_per_order, old_wall_s, _, _ = _apply_once(workdir, "apply-read", count, stale_check="read")
    return [
        Figure(
            f"apply of a {count:,}-order address plan",
            per_order,
            "req/order",
            "<= 2.1",
            per_order <= 2.1 and applied == count and seen == round(per_order * applied),
            f'stale_check = "read": {old_per_order:.2f} req/order',
        ),
        Figure(
            f"the same: wall time at --rate {RATE}",
            wall_s,
            "s",
            "(info)",
            None,
            f'stale_check = "read": {old_wall_s:.0f} s',
        ),
    ]


def _plan_cancels_once(
    workdir: Path, name: str, count: int, snapshot: str = ""
) -> tuple[float, float, int]:
    from pipeline.sandbox.orders import FIRST_ORDER_ID

    source = write_csv(
        workdir / f"{name}.csv", "orderId", (str(FIRST_ORDER_ID + n) for n in range(count))
    )
    job = workdir / f"{name}.toml"  # plan has no --snapshot: the job's key
    job.write_text(f'input = "{source.name}"\naction = "cancel"\n{snapshot}')
    with sandbox("--count", str(count), "--seed", "4", "--rate-limit", LIMIT) as url:
        plan_dir = workdir / name
        _, wall_s, _ = run_cli(["plan", "--job", str(job), "--rate", RATE, "--quiet",
                                "--out", str(plan_dir)], base_url=url, cwd=workdir)  # fmt: skip
        seen = int(stats(url)["requests"])
    summary = _summary(plan_dir)
    return _total(summary) / count, wall_s, seen - _total(summary)


def bench_plan_cancels(count: int, workdir: Path) -> list[Figure]:
    per_order, wall_s, unaccounted = _plan_cancels_once(workdir, "plan-cancels", count)
    old_per_order, old_wall_s, _ = _plan_cancels_once(
        workdir, "plan-cancels-read", count, 'snapshot = "always"\n'
    )
    return [
        Figure(
            f"plan of a {count:,}-order cancel file",
            per_order,
            "req/order",
            "<= 0.05",
            per_order <= 0.05 and unaccounted == 0,
            f"a full read of each (--snapshot always): {old_per_order:.2f} req/order",
        ),
        Figure(
            f"the same: wall time at --rate {RATE}",
            wall_s,
            "s",
            "(info)",
            None,
            f"--snapshot always: {old_wall_s:.1f} s",
        ),
    ]


def _ui_once(workdir: Path, name: str, count: int, *, stale_check: str) -> tuple[float, float]:
    """The UI's Preview (plan_files) then Send (run_files with its preconditions)."""
    from pipeline.config.options import Options
    from pipeline.config.settings import Environment, resolve_options
    from pipeline.core.manifest import Origin
    from pipeline.flows.plan import plan_files
    from pipeline.flows.run import run_files
    from pipeline.sandbox.orders import FIRST_ORDER_ID
    from pipeline.send.progress import Progress

    total = count * 2 + 50
    ids = processing_ids(count, seed=5, first=FIRST_ORDER_ID, total=total)
    source = address_csv(workdir / f"{name}.csv", ids)
    with sandbox("--count", str(total), "--seed", "5", "--rate-limit", LIMIT) as url:
        env = Environment(
            base_url=url,
            api_key=SecretStr(CREDENTIALS["QUIVO_API_KEY"]),
            username=CREDENTIALS["QUIVO_USERNAME"],
            password=SecretStr(CREDENTIALS["QUIVO_PASSWORD"]),
            token=None,
        )
        options = resolve_options(Options(base_url=url, rate=RATE, action="address"))
        profile = replace(options.api.profile, stale_check=stale_check)
        options = replace(options, api=replace(options.api, profile=profile))
        started = time.perf_counter()
        quiet = Progress  # the base class shows nothing
        planned = plan_files([source], options=options, env=env, out=workdir / f"{name}-plan",
                             progress_factory=quiet)  # fmt: skip
        sent = run_files([source], options=options, env=env, out=workdir / f"{name}-send",
                         progress_factory=quiet, origin=Origin(applies=str(planned.plan_dir)),
                         preconditions=planned.as_read)  # fmt: skip
        wall_s = time.perf_counter() - started
        seen = int(stats(url)["requests"])
    requests = _total(planned.summary.to_json()) + _total(sent.summary.to_json())
    assert seen == requests, (seen, requests)
    return requests / count, wall_s


def bench_ui_send(count: int, workdir: Path) -> list[Figure]:
    per_order, wall_s = _ui_once(workdir, "ui", count, stale_check="search")
    old_per_order, old_wall_s = _ui_once(workdir, "ui-read", count, stale_check="read")
    return [
        Figure(
            f"UI Preview + Send of {count:,} address orders",
            per_order,
            "req/order",
            "<= 3.1",
            per_order <= 3.1,
            f'stale_check = "read": {old_per_order:.2f} req/order',
        ),
        Figure(
            f"the same: wall time at --rate {RATE}",
            wall_s,
            "s",
            "(info)",
            None,
            f'stale_check = "read": {old_wall_s:.1f} s',
        ),
    ]


def bench_followup(count: int, workdir: Path) -> list[Figure]:
    """Cancel `count` orders, let the warehouse decide, follow them up."""
    from pipeline.sandbox.orders import FIRST_ORDER_ID

    ids = processing_ids(count, seed=6, first=FIRST_ORDER_ID, total=count * 2 + 50)
    source = write_csv(workdir / "followup.csv", "orderId", (str(o) for o in ids))
    with sandbox("--count", str(count * 2 + 50), "--seed", "6", "--cancel-delay", "1",
                 "--faults", "ship_cancelled=0.07", "--rate-limit", LIMIT) as url:  # fmt: skip
        run_dir = workdir / "followup-run"
        run_cli(["run", str(source), "--action", "cancel", "--yes", "--rate", RATE, "--quiet",
                 "--out", str(run_dir)], base_url=url, cwd=workdir)  # fmt: skip
        time.sleep(1.5)
        reset(url)
        code, wall_s, _ = run_cli(["followup", str(run_dir), "--rate", RATE],
                                  base_url=url, cwd=workdir)  # fmt: skip
        served = stats(url)
    per_order = int(served["requests"]) / count  # the login included
    searches = int(served["by_endpoint"].get("list", 0))
    return [
        Figure(
            f"follow-up of {count:,} cancel requests",
            per_order,
            "req/order",
            "search <= 1/40",
            searches <= count / 40 and code == 1,
            f"{searches} searches and a login; a read of each: 1 req/order;"
            f" {wall_s:.1f} s at --rate {RATE}",
        )
    ]
