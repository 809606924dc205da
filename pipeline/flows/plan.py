"""`plan`: read every targeted order and show what a run would change; send nothing
(docs/plan-apply-undo.md).

A plan directory holds `plan.xlsx` (what the person opens), `plan.csv`,
`plan.parquet` (one row per input row: file, row, orderId, action, prediction,
reason, changes, orderStatus, then the input's columns), `summary.json`,
`before.parquet` (the orders as read), `plan.json` (what `apply` needs) and
`inputs/` (the rows that will change, for `apply`).

    result = plan_files([Path("fixes.csv")], options=RunOptions(action="address"), env=env)
    result.plan.filter(pl.col("prediction") == "will_change")["changes"]
    result.summary.field_changes   # {"street": 12, "zip": 3}

Predictions: `will_change`, `unchanged`, `will_fail` (the order is missing or its
status forbids the action), `invalid`, `duplicate`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.api.client import Answer, QuivoClient
from pipeline.api.rate.shared import Pace
from pipeline.api.settings import Credentials
from pipeline.config.settings import Environment, RunOptions, settle_base_url
from pipeline.core.errors import OutputError, RunDirError
from pipeline.core.executor import run_on_each
from pipeline.core.manifest import Manifest, PlanInput, PlanSummary, read_manifest
from pipeline.core.outcomes import ErrorCode, Outcome
from pipeline.flows.resume import subset_inputs
from pipeline.flows.run import ProgressFactory, default_run_dir, new_manifest
from pipeline.plan.predict import (
    Prediction,
    plan_summary,
    plan_table,
    preconditions,
    predict,
)
from pipeline.plan.prepare import Prepared, prepare
from pipeline.plan.resolve import resolve_order_keys
from pipeline.reports.orderfile import write_order_parquet
from pipeline.reports.report import write_csv
from pipeline.send.freshness import search_orders
from pipeline.send.progress import Progress
from pipeline.send.snapshot import read_order
from pipeline.store.journal import Journal
from pipeline.store.recorder import RunRecorder
from pipeline.store.rundir import check_fresh

PLAN_MANIFEST = "plan.json"
PLAN_JOURNAL = "plan-journal.sqlite"  # not journal.sqlite: a plan is not a run to resume


@dataclass(frozen=True)
class PlanResult:
    """What `plan_files` returns: the plan directory, its summary and its rows."""

    plan_dir: Path
    summary: PlanSummary  # what summary.json holds (`summary.to_json()`)
    exit_code: int  # 0 every row will change or is unchanged, 1 otherwise
    plan: pl.DataFrame
    warnings: tuple[str, ...] = ()
    # Per order read: its status and every field its rows set, as read. Sending all the
    # rows with these (the UI's Send) makes an order changed since the plan `stale`.
    as_read: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Orders the plan could not read (a missing order aside): what it would send to
    # them was not shown, so the UI does not send this plan.
    unread: tuple[int, ...] = ()


def private_dir(path: Path) -> Path:
    """Create a directory readable by its owner only (it holds personal data)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def private_files(folder: Path) -> None:
    for item in folder.rglob("*"):
        item.chmod(0o700 if item.is_dir() else 0o600)


def summary_answer(order_id: int, summary: dict[str, Any]) -> Answer:
    """A cancel-only order's search summary as a read's answer."""
    return Answer(200, summary, None, "", 1, None, json.dumps(summary))


async def _read_all(
    order_ids: Sequence[int],
    *,
    journal: Journal,
    options: RunOptions,
    credentials: Credentials,
    progress: Progress,
    pace: Pace,
    cancel_only: Sequence[int] = (),
) -> tuple[dict[int, Answer], str | None]:
    """Read every order once (paced like a run); return the answers and why it stopped.

    `cancel_only`: orders whose rows only cancel: their status and whether a cancel was
    requested are all a plan needs, and `GET /orders` answers that for ~50 at once.
    """
    answers: dict[int, Answer] = {}
    recorder = RunRecorder(journal, progress.request, profile=options.api.profile)

    async def read(order_id: int) -> None:
        answer = await read_order(client, order_id)
        if answer.ok and isinstance(answer.body, dict):
            journal.before_fetched(order_id, answer.text)
        answers[order_id] = answer
        progress.rows([Outcome.UNCHANGED if answer.ok else Outcome.FAILED])  # read / not

    async with QuivoClient(options.api, credentials, observer=recorder, pace=pace) as client:
        progress.bind_halt(client.halt)  # the UI's Stop: no order read after it
        if await client.login():
            to_read = list(order_ids)
            if cancel_only:
                found, _ = await search_orders(
                    client, cancel_only, concurrency=options.api.concurrency
                )
                for order_id, summary in found.items():
                    answers[order_id] = summary_answer(order_id, summary)
                progress.rows([Outcome.UNCHANGED] * len(found))
                # Read what the search did not answer or find: an order it does not find
                # is missing only if a read says so.
                to_read += [o for o in cancel_only if o not in found]
            await run_on_each(
                to_read, read, max_at_once=options.api.concurrency * 4, stop=client.stop
            )
        await journal.durable()
        return answers, client.stop_reason


def _cancel_only(prepared: Prepared, options: RunOptions) -> set[int]:
    """Orders whose every row cancels (none with `--snapshot always`: it reads them all)."""
    if options.snapshot == "always":
        return set()
    others: set[int] = set()
    cancels: set[int] = set()
    for _, order_id, action in prepared.plan.sendable():
        (cancels if action == "cancel" else others).add(order_id)
    return cancels - others


def _write_apply_inputs(
    prepared: Prepared, predictions: Sequence[Prediction], plan_dir: Path
) -> tuple[PlanInput, ...]:
    chosen = [p.index for p in predictions if p.prediction == "will_change"]
    if not chosen:
        return ()
    paths, names = subset_inputs(prepared, chosen, plan_dir / "inputs")
    return tuple(
        PlanInput(path=str(path.relative_to(plan_dir)), name=name)
        for path, name in zip(paths, names, strict=True)
    )


def write_plan(
    plan_dir: Path, frame: pl.DataFrame, summary: PlanSummary, manifest: Manifest
) -> None:
    try:
        frame.write_excel(plan_dir / "plan.xlsx", worksheet="plan", autofit=True)
        write_csv(frame, plan_dir / "plan.csv")
        frame.write_parquet(plan_dir / "plan.parquet")
        (plan_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
        (plan_dir / PLAN_MANIFEST).write_text(manifest.dump() + "\n")
    except OSError as error:
        raise OutputError(f"cannot write the plan in {plan_dir}: {error.strerror}") from None


def plan_files(
    inputs: Sequence[Path],
    *,
    options: RunOptions,
    env: Environment,
    out: Path | None = None,
    progress_factory: ProgressFactory = Progress,
    names: Sequence[str] | None = None,
) -> PlanResult:
    """Validate `inputs`, read every order they target, write the plan directory.

    Sends no change (only a login and one read per order). `apply_plan` sends it.
    """
    options = settle_base_url(options, env)  # options built in Python: QUIVO_BASE_URL
    prepared = prepare(inputs, options=options, names=names)
    credentials = env.credentials()
    if prepared.plan.change_count:
        credentials.check()
    plan_dir = out or default_run_dir(f"plan-{options.job_name or inputs[0].stem}")
    if (plan_dir / PLAN_MANIFEST).exists() or (plan_dir / PLAN_JOURNAL).exists():
        raise RunDirError(f"{plan_dir} already holds a plan; choose another --out")
    check_fresh(plan_dir, prepared=True)  # nor a run's folder: its reports would be lost
    private_dir(plan_dir)
    journal = Journal.create(plan_dir / PLAN_JOURNAL, new_manifest(prepared, options, kind="plan"))
    pace = Pace.for_settings(options.api)  # one rate for the lookups and the reads
    try:
        journal.begin_session("plan")
        prepared = resolve_order_keys(  # rows keyed by shop order number or reference
            prepared,
            prepared.table.fields,
            replan=lambda resolved: prepare(
                inputs, options=options, names=names, resolved=resolved
            ),
            journal=journal,
            options=options,
            credentials=credentials,
            pace=pace,
        )
        order_ids = list(dict.fromkeys(order for _, order, _ in prepared.plan.sendable()))
        cancel_only = _cancel_only(prepared, options)
        answers: dict[int, Answer] = {}
        stopped = None
        if order_ids:
            with progress_factory(len(order_ids)) as progress:
                answers, stopped = asyncio.run(
                    _read_all(
                        [o for o in order_ids if o not in cancel_only],
                        journal=journal,
                        options=options,
                        credentials=credentials,
                        progress=progress,
                        pace=pace,
                        cancel_only=[o for o in order_ids if o in cancel_only],
                    )
                )
        journal.end_session(stopped)
        predictions = predict(prepared, answers)
        frame = plan_table(prepared, predictions, answers)
        summary = plan_summary(
            prepared,
            predictions,
            answers,
            plan_dir=plan_dir,
            options=options,
            journal=journal,
            stopped=stopped,
        )
        write_order_parquet(journal.before_images(), plan_dir / "before.parquet")
    finally:
        journal.close()
    manifest = new_manifest(
        prepared,
        options,
        kind="plan",
        created_at=summary.created_at,
        will_change=summary.predictions.get("will_change", 0),
        apply_inputs=_write_apply_inputs(prepared, predictions, plan_dir),
        preconditions=preconditions(prepared, predictions, answers),
    )
    write_plan(plan_dir, frame, summary, manifest)
    private_files(plan_dir)
    as_read = preconditions(prepared, predictions, answers, every_read=True)
    missing = {o for o, a in answers.items() if a.code is ErrorCode.ORDER_NOT_FOUND}
    unread = tuple(o for o in order_ids if o not in as_read and o not in missing)
    return PlanResult(
        plan_dir, summary, summary.exit_code, frame, prepared.table.warnings, as_read, unread
    )


def plan_frame(
    frame: pl.DataFrame,
    *,
    options: RunOptions,
    env: Environment,
    out: Path | None = None,
    name: str = "frame",
    progress_factory: ProgressFactory = Progress,
) -> PlanResult:
    """`plan_files` for a polars DataFrame (one row per change, the input's columns).

    The frame is kept as `source/<name>.parquet` in the plan directory; reports name
    its rows as rows of `<name>`.
    """
    plan_dir = out or default_run_dir(f"plan-{options.job_name or name}")
    source = private_dir(plan_dir / "source") / f"{name}.parquet"
    frame.select(pl.all().cast(pl.String)).write_parquet(source)
    return plan_files(
        [source],
        options=options,
        env=env,
        out=plan_dir,
        progress_factory=progress_factory,
        names=[name],
    )


def read_plan(plan_dir: Path) -> Manifest:
    """A plan directory's manifest (plan.json), brought up to date if an older
    quivo-bulk wrote it."""
    path = plan_dir / PLAN_MANIFEST
    if not path.exists():
        raise RunDirError(
            f"{plan_dir}: no {PLAN_MANIFEST}; is this a plan directory? (quivo-bulk plan INPUT)"
        )
    try:
        manifest = read_manifest(json.loads(path.read_text()))
    except ValueError:
        raise RunDirError(f"{path}: not JSON; make a new plan") from None
    except RunDirError as error:
        raise RunDirError(f"{path}: {error}") from None
    if manifest.kind != "plan":
        raise RunDirError(f"{path}: the manifest of a {manifest.kind}, not a plan")
    return manifest
