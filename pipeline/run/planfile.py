"""`plan`: read every targeted order and show what a run would change; send nothing (SPEC §10).

A plan directory holds `plan.xlsx` (what the person opens), `plan.csv`,
`plan.parquet` (one row per input row: file, row, orderId, action, prediction,
reason, changes, orderStatus, then the input's columns), `summary.json`,
`before.parquet` (the orders as read), `plan.json` (what `apply` needs) and
`inputs/` (the rows that will change, for `apply`).

    result = plan_files([Path("fixes.csv")], options=RunOptions(action="address"), env=env)
    result.plan.filter(pl.col("prediction") == "will_change")["changes"]
    result.summary["field_changes"]   # {"street": 12, "zip": 3}

Predictions: `will_change`, `unchanged`, `will_fail` (the order is missing or its
status forbids the action), `invalid`, `duplicate`.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.api.client import Answer, QuivoClient
from pipeline.errors import OutputError, RunDirError
from pipeline.outcomes import Outcome
from pipeline.reports.orderfile import write_order_parquet
from pipeline.reports.report import write_csv
from pipeline.run.durable import subset_inputs
from pipeline.run.executor import run_on_each
from pipeline.run.journal import Journal, RowResult
from pipeline.run.progress import Progress
from pipeline.run.runner import Prepared, ProgressFactory, default_run_dir, locator, prepare
from pipeline.run.send import RunRecorder
from pipeline.run.snapshot import (
    CANCEL_FIELD,
    current,
    decide,
    describe_changes,
    field_changes,
    field_label,
    read_order,
    request_costs,
    targets,
    unread,
)
from pipeline.settings import Credentials, Environment, RunOptions

PLAN_MANIFEST = "plan.json"
PLAN_JOURNAL = "plan-journal.sqlite"  # not journal.sqlite: a plan is not a run to resume
PLAN_VERSION = 1
PREDICTIONS = ("will_change", "unchanged", "will_fail", "invalid", "duplicate")
PLAN_COLUMNS = ("file", "row", "orderId", "action", "prediction", "reason", "changes")


@dataclass(frozen=True)
class PlanResult:
    """What `plan_files` returns: the plan directory, its summary and its rows."""

    plan_dir: Path
    summary: dict[str, Any]
    exit_code: int  # 0 every row will change or is unchanged, 1 otherwise
    plan: pl.DataFrame
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prediction:
    index: int
    order_id: int | None
    action: str | None
    prediction: str
    reason: str | None = None
    code: str | None = None
    changes: str | None = None


def private_dir(path: Path) -> Path:
    """Create a directory readable by its owner only (it holds personal data)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def private_files(folder: Path) -> None:
    for item in folder.rglob("*"):
        item.chmod(0o700 if item.is_dir() else 0o600)


async def _read_all(
    order_ids: Sequence[int],
    *,
    journal: Journal,
    options: RunOptions,
    credentials: Credentials,
    progress: Progress,
) -> tuple[dict[int, Answer], str | None]:
    """Read every order once (paced like a run); return the answers and why it stopped."""
    answers: dict[int, Answer] = {}
    recorder = RunRecorder(journal, progress.request, profile=options.api.profile)

    async def read(order_id: int) -> None:
        answer = await read_order(client, order_id)
        if answer.ok and isinstance(answer.body, dict):
            journal.before_fetched(order_id, answer.text)
        answers[order_id] = answer
        progress.rows([Outcome.UNCHANGED if answer.ok else Outcome.FAILED])  # read / not

    async with QuivoClient(options.api, credentials, observer=recorder) as client:
        if await client.login():
            await run_on_each(
                order_ids, read, max_at_once=options.api.concurrency * 4, stop=client.stop
            )
        await journal.durable()
        return answers, client.stop_reason


def predict(prepared: Prepared, answers: Mapping[int, Answer]) -> list[Prediction]:
    """Each input row's prediction from the orders as read (pure)."""
    locate = locator(prepared.table)
    found: list[Prediction] = [
        Prediction(r.index, r.order_id, r.action, "invalid", r.message, r.code.value)
        for r in prepared.plan.rejections
    ]
    found += [
        Prediction(
            d.index, d.order_id, d.action, "duplicate", f"same change as {locate(d.original)}"
        )
        for d in prepared.plan.duplicates
    ]
    for index, order_id, action in prepared.plan.sendable():
        change = prepared.plan.checked.change(index)
        answer = answers.get(order_id)
        if answer is None or not answer.ok or not isinstance(answer.body, dict):
            missing = answer or Answer(None, None, None, "not read: the plan stopped", 0, None)
            failed: RowResult = unread(change, missing)
            code = failed.error_code.value if failed.error_code else "aborted"
            found.append(Prediction(index, order_id, action, "will_fail", failed.error, code))
            continue
        decided = decide(change, answer.body)
        changes = describe_changes(change, answer.body)
        if decided is None:
            found.append(Prediction(index, order_id, action, "will_change", changes=changes))
        elif decided.outcome is Outcome.UNCHANGED:
            found.append(
                Prediction(index, order_id, action, "unchanged", "the order already holds this")
            )
        else:
            why = decided.error_code.value if decided.error_code else None
            found.append(Prediction(index, order_id, action, "will_fail", decided.error, why))
    return sorted(found, key=lambda p: p.index)


def plan_table(
    prepared: Prepared, predictions: Sequence[Prediction], orders: Mapping[int, Answer]
) -> pl.DataFrame:
    """plan.parquet's frame: the contract's columns, then the input's own."""

    def status(order_id: int | None) -> str | None:
        answer = orders.get(order_id) if order_id is not None else None
        body = answer.body if answer is not None and answer.ok else None
        return str(body.get("orderStatus")) if isinstance(body, dict) else None

    raw = prepared.table.raw
    made = pl.DataFrame(
        {
            "orderId": [p.order_id for p in predictions],
            "action": [p.action for p in predictions],
            "prediction": [p.prediction for p in predictions],
            "reason": [p.reason for p in predictions],
            "changes": [p.changes for p in predictions],
            "orderStatus": [status(p.order_id) for p in predictions],
        },
        schema={
            "orderId": pl.Int64,
            "action": pl.String,
            "prediction": pl.String,
            "reason": pl.String,
            "changes": pl.String,
            "orderStatus": pl.String,
        },
    )
    own = raw.drop("file", "row")
    taken = set(made.columns) | {"file", "row"}
    own = own.rename({name: f"input.{name}" for name in own.columns if name in taken})
    return pl.concat([raw.select("file", "row"), made, own], how="horizontal")


def plan_summary(
    prepared: Prepared,
    predictions: Sequence[Prediction],
    answers: Mapping[int, Answer],
    *,
    plan_dir: Path,
    options: RunOptions,
    journal: Journal,
    stopped: str | None,
) -> dict[str, Any]:
    """How many orders change, per field how many values change, failures and why."""
    locate = locator(prepared.table)
    counts = Counter(p.prediction for p in predictions)
    fields: Counter[str] = Counter()
    changing: set[int] = set()
    cancels: set[int] = set()
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        if p.prediction in ("will_fail", "invalid"):
            groups[p.code or "unknown"].append(p)
        if p.prediction != "will_change" or p.order_id is None:
            continue
        changing.add(p.order_id)
        if p.action == "cancel":
            cancels.add(p.order_id)
            continue
        order = answers[p.order_id].body
        for path, _, _ in field_changes(prepared.plan.checked.change(p.index), order):
            fields[field_label(path)] += 1
    failures = {
        code: {
            "count": len(rows),
            "message": Counter(r.reason for r in rows).most_common(1)[0][0],
            "examples": [locate(r.index) for r in rows[:3]],
        }
        for code, rows in sorted(groups.items(), key=lambda item: -len(item[1]))
    }
    costs = request_costs(journal, len(predictions), profile=options.api.profile)
    fine = counts["will_change"] + counts["unchanged"] == len(predictions)
    return {
        "command": "plan",
        "plan_dir": str(plan_dir),
        "base_url": options.api.base_url,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(predictions),
        "predictions": {name: counts[name] for name in PREDICTIONS if counts[name]},
        "orders_changing": len(changing),
        "field_changes": dict(fields.most_common()),
        "cancels": len(cancels),
        "failures": failures,
        "requests": sum(costs["requests_by_kind"].values()),
        **costs,
        "inputs": [
            {"file": f.name, "sha256": f.sha256, "rows": f.rows} for f in prepared.table.files
        ],
        "warnings": list(prepared.table.warnings),
        "stopped": stopped,
        "exit_code": 3 if stopped else (0 if fine else 1),
    }


def preconditions(
    prepared: Prepared, predictions: Sequence[Prediction], answers: Mapping[int, Answer]
) -> dict[int, dict[str, Any]]:
    """What apply checks per order: its status and every field the plan changes, as read."""
    found: dict[int, dict[str, Any]] = {}
    for p in predictions:
        if p.prediction != "will_change" or p.order_id is None:
            continue
        order = answers[p.order_id].body
        expected = found.setdefault(p.order_id, {"orderStatus": order.get("orderStatus")})
        for path, _ in targets(prepared.plan.checked.change(p.index)):
            expected[path] = current(order, path) if path != CANCEL_FIELD else False
    return found


def _write_apply_inputs(
    prepared: Prepared, predictions: Sequence[Prediction], plan_dir: Path
) -> list[dict[str, str]]:
    chosen = [p.index for p in predictions if p.prediction == "will_change"]
    if not chosen:
        return []
    paths, names = subset_inputs(prepared, chosen, plan_dir / "inputs")
    return [
        {"path": str(path.relative_to(plan_dir)), "name": name}
        for path, name in zip(paths, names, strict=True)
    ]


def write_plan(
    plan_dir: Path, frame: pl.DataFrame, summary: dict[str, Any], manifest: dict[str, Any]
) -> None:
    try:
        frame.write_excel(plan_dir / "plan.xlsx", worksheet="plan", autofit=True)
        write_csv(frame, plan_dir / "plan.csv")
        frame.write_parquet(plan_dir / "plan.parquet")
        (plan_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (plan_dir / PLAN_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
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
    prepared = prepare(inputs, options=options, names=names)
    credentials = env.credentials()
    order_ids = list(dict.fromkeys(order for _, order, _ in prepared.plan.sendable()))
    if order_ids:
        credentials.check()
    plan_dir = out or default_run_dir(f"plan-{options.job_name or inputs[0].stem}")
    if (plan_dir / PLAN_MANIFEST).exists() or (plan_dir / PLAN_JOURNAL).exists():
        raise RunDirError(f"{plan_dir} already holds a plan; choose another --out")
    private_dir(plan_dir)
    journal = Journal.create(plan_dir / PLAN_JOURNAL, {"command": "plan"})
    try:
        journal.begin_session("plan")
        answers: dict[int, Answer] = {}
        stopped = None
        if order_ids:
            with progress_factory(len(order_ids)) as progress:
                answers, stopped = asyncio.run(
                    _read_all(
                        order_ids,
                        journal=journal,
                        options=options,
                        credentials=credentials,
                        progress=progress,
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
    manifest = {
        "version": PLAN_VERSION,
        "command": "plan",
        "created_at": summary["created_at"],
        "inputs": [
            {"path": str(f.path.resolve()), "name": f.name, "sha256": f.sha256, "rows": f.rows}
            for f in prepared.table.files
        ],
        "options": options.to_manifest(),
        "will_change": summary["predictions"].get("will_change", 0),
        "apply_inputs": _write_apply_inputs(prepared, predictions, plan_dir),
        "preconditions": {
            str(k): v for k, v in preconditions(prepared, predictions, answers).items()
        },
    }
    write_plan(plan_dir, frame, summary, manifest)
    private_files(plan_dir)
    return PlanResult(plan_dir, summary, summary["exit_code"], frame, prepared.table.warnings)


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


def read_plan(plan_dir: Path) -> dict[str, Any]:
    """A plan directory's manifest (plan.json)."""
    path = plan_dir / PLAN_MANIFEST
    if not path.exists():
        raise RunDirError(
            f"{plan_dir}: no {PLAN_MANIFEST}; is this a plan directory? (quivo-bulk plan INPUT)"
        )
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The plan's summary as a person reads it (the CLI prints these)."""
    predictions = summary["predictions"]
    lines = [
        f"plan of {summary['rows']} rows: {summary['orders_changing']} orders will change"
        f" ({summary['cancels']} cancelled)",
        "  " + ", ".join(f"{name} {count}" for name, count in predictions.items()),
    ]
    if summary["field_changes"]:
        lines.append("  values that change per field:")
        lines += [f"    {field}: {n}" for field, n in summary["field_changes"].items()]
    for code, group in summary["failures"].items():
        lines.append(
            f"  {code}: {group['count']} row{'s' if group['count'] != 1 else ''}"
            f" ({', '.join(group['examples'])}): {group['message']}"
        )
    lines.append(
        f"  requests: {summary['requests']} ({summary['requests_per_row']} per row);"
        " nothing was changed"
    )
    return lines
