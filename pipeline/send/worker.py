"""Send one order's changes, refetch it, and judge each row (docs/design/sending.md).

An order's changes go one after another, never in flight together. The order
is refetched once afterwards (also when a change failed), and each row is
judged against it by `judge`, a pure function:

- accepted and on the order                     -> applied
- accepted, not on the order                    -> unverified (not_verified)
- refused, but the order already shows it:
    an earlier attempt may have landed          -> applied
    otherwise (it was there before)             -> unchanged
- refused                                       -> failed, naming the order's status
- the run stopped before / while sending        -> not_attempted / failed (aborted)
- accepted, the run stopped before the refetch   -> unverified (aborted)
  (`aborted` rows are not final: `resume` sends them again)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pipeline.api.answers import Answer
from pipeline.api.client import QuivoClient
from pipeline.api.interrupts import finish_grace_s, stop_on_signals
from pipeline.api.rate.adaptive import AdaptiveRate
from pipeline.api.rate.shared import Pace
from pipeline.api.settings import Credentials
from pipeline.config.settings import RunOptions
from pipeline.core.executor import run_on_each
from pipeline.core.outcomes import ErrorCode, Outcome
from pipeline.inputs.address import Value
from pipeline.inputs.changes import Change, after_writes
from pipeline.plan.diff import decide_order, unread
from pipeline.plan.guards import Breaker
from pipeline.plan.sequence import OrderWork, Plan
from pipeline.send.freshness import ImageSource, SummariesAhead, unmoved
from pipeline.send.judge import Refetch, judge
from pipeline.send.progress import Progress
from pipeline.send.snapshot import read_order, wants_image
from pipeline.store.journal import Journal
from pipeline.store.recorder import RunRecorder
from pipeline.store.schema import RowResult

log = logging.getLogger(__name__)


async def process_order(
    work: OrderWork,
    *,
    client: QuivoClient,
    journal: Journal,
    refetch: bool,
    earlier_attempts: Mapping[int, int],
    on_rows: Callable[[list[RowResult]], None],
    snapshot: str = "never",
    precondition: Mapping[str, Any] | None = None,
    ahead: SummariesAhead | None = None,
    images: ImageSource | None = None,
) -> None:
    """Read the order first (before-image), send what it does not already hold, in
    order, refetch once, journal each row's outcome.

    `ahead`: the orders' search summaries (status, lastModified), searched a batch ahead;
    with `images`, an order not modified since its image is not read again."""
    await journal.keep_up()  # an order starts only when the journal keeps pace
    seen = await ahead.summary(work.order_id) if ahead is not None and precondition else None
    decided: dict[int, RowResult] = {}
    # The before-image: read now, or the earlier image of an order unmoved since (the
    # plan's, for apply): what an address merge builds on. None: not read.
    image: Mapping[str, Any] | None = None
    if wants_image(work.changes, snapshot, precondition=bool(precondition)):
        known = None
        if precondition and seen is not None:
            known = _decide_unread(
                work,
                seen,
                images,
                journal=journal,
                snapshot=snapshot,
                precondition=precondition,
                earlier_attempts=earlier_attempts,
            )
        if known is None:
            known = await _look_first(
                work,
                client=client,
                journal=journal,
                precondition=precondition,
                earlier_attempts=earlier_attempts,
            )
        decided, image = known
    answers: list[tuple[Change, Answer | None]] = []
    expected: dict[int, list[tuple[str, Value]]] = {}
    for change in work.changes:
        if change.index in decided:
            continue
        if client.stop.is_set():
            answers.append((change, None))
            continue
        if image is not None:
            expected[change.index] = change.expectations(image)
        answer = await _send(client, change, image, order_id=work.order_id)
        answers.append((change, answer))
        if image is not None and answer.ok:  # the next change of the order builds on it
            image = after_writes(image, change.plan_address(image).writes)
    fetched: Refetch | None = None
    if refetch and any(a is not None and a.attempts for _, a in answers):
        read = client.profile.verify_request(work.order_id)
        # After an interrupt, an order whose change was answered is still refetched.
        answered = any(a is not None and a.code is not ErrorCode.ABORTED for _, a in answers)
        reply = await client.call(
            read.method, read.path, order_id=work.order_id, expect_json=True, after_stop=answered
        )
        if reply.ok:
            journal.order_fetched(work.order_id, reply.text)
            fetched = Refetch(reply.body)
        else:
            fetched = Refetch(None, reply.message, stopped=reply.code is ErrorCode.ABORTED)
    results = [
        judge(
            change,
            answer,
            fetched,
            earlier_attempts=earlier_attempts.get(change.index, 0),
            expected=expected.get(change.index),
        )
        for change, answer in answers
    ]
    results = sorted([*decided.values(), *results], key=lambda r: r.index)
    # Buffered, committed with the next group: a row counts as finished once its
    # result is committed, so a kill before that only makes resume send it again.
    journal.finish_rows(results)
    on_rows(results)


async def _send(
    client: QuivoClient, change: Change, image: Mapping[str, Any] | None, *, order_id: int
) -> Answer:
    """Send one change: its requests one after another (an address of both types whose
    delivery and invoice differ goes out as one PUT per type). The first refused
    request stops the rest; the answer is the last one's, with every attempt counted."""
    answer: Answer | None = None
    attempts = 0
    for request in change.requests(client.profile, image):
        answer = await client.call(
            request.method,
            request.path,
            params=request.params,
            body=request.body,
            order_id=order_id,
            row=change.index,
        )
        attempts += answer.attempts
        if not answer.ok:
            break
    assert answer is not None  # every change makes a request
    return replace(answer, attempts=attempts) if attempts != answer.attempts else answer


def _decide_unread(
    work: OrderWork,
    seen: Mapping[str, Any],
    images: ImageSource | None,
    *,
    journal: Journal,
    snapshot: str,
    precondition: Mapping[str, Any],
    earlier_attempts: Mapping[int, int],
) -> tuple[dict[int, RowResult], dict[str, Any] | None] | None:
    """Decide an order's rows from its search summary without reading it; None: read it.
    Returns the decided rows and the before-image (None for a cancel-only order).

    A cancel-only order's precondition is its status and whether a cancel was
    requested: both in the summary. Any other order is decided on its earlier image
    (the plan's before-image, or the undone run's refetch) when its lastModified and
    status are still the image's; that image becomes this run's before-image.
    """
    if snapshot != "always" and all(c.action == "cancel" for c in work.changes):
        if seen.get("orderStatus") is None:
            return None
        decided = decide_order(
            work.changes, seen, precondition=precondition, earlier_attempts=earlier_attempts
        )
        return decided, None
    found = images.image(work.order_id) if images is not None else None
    if images is None or found is None:
        return None
    image, text = found
    if not unmoved(seen, image, read_after_s=images.read_after_s):
        return None
    journal.before_fetched(work.order_id, text)
    decided = decide_order(
        work.changes, image, precondition=precondition, earlier_attempts=earlier_attempts
    )
    return decided, image


def _worth_searching(
    plan: Plan,
    conditions: Mapping[int, Mapping[str, Any]],
    skip: set[int],
    images: ImageSource | None,
    *,
    snapshot: str,
) -> list[int]:
    """Orders with preconditions whose search summary can spare a read: cancel-only ones,
    and those whose earlier image is old enough to trust an unchanged lastModified (an
    undo's images, refetched right after the change, are not: those are read anyway)."""
    actions: dict[int, set[str]] = {}
    for index, order_id, action in plan.sendable():
        if order_id in conditions and index not in skip:
            actions.setdefault(order_id, set()).add(action)
    return [
        order_id
        for order_id, kinds in actions.items()
        if (kinds == {"cancel"} and snapshot != "always")
        or (images is not None and images.trustable(order_id))
    ]


async def _look_first(
    work: OrderWork,
    *,
    client: QuivoClient,
    journal: Journal,
    precondition: Mapping[str, Any] | None,
    earlier_attempts: Mapping[int, int],
) -> tuple[dict[int, RowResult], dict[str, Any] | None]:
    """Read the order, journal its before-image, and decide the rows that need no send.

    Returns the decided rows and the before-image (None: not read; then every row is
    decided). The image is what the address requests are built from.
    """
    if client.stop.is_set():
        return {}, None
    answer = await read_order(client, work.order_id)
    if not answer.ok or not isinstance(answer.body, dict):
        failed = {
            c.index: unread(c, answer, earlier_attempts=earlier_attempts.get(c.index, 0))
            for c in work.changes
        }
        return failed, None
    journal.before_fetched(work.order_id, answer.text)
    decided = decide_order(
        work.changes, answer.body, precondition=precondition, earlier_attempts=earlier_attempts
    )
    return decided, answer.body


async def send_plan(
    plan: Plan,
    *,
    journal: Journal,
    options: RunOptions,
    credentials: Credentials,
    progress: Progress,
    skip: set[int],
    earlier_attempts: dict[int, int],
    preconditions: Mapping[int, Mapping[str, Any]] | None = None,
    locate: Callable[[int], str] = lambda index: f"row index {index}",
    pace: Pace | None = None,
    images: ImageSource | None = None,
) -> str | None:
    """Send every change not in `skip`; return why the run stopped early, if it did.

    Orders are built one at a time as the executor takes them, never all at once.
    `pace`: the pacer and adaptive rate shared with the run's lookups and a sweep's
    other files (None: a pace of its own). With preconditions and the profile's
    `stale_check = "search"`, their orders' summaries are searched in batches, a batch
    ahead of sending; `images`: the images the preconditions were taken from.
    """
    if not any(index not in skip for index, _, _ in plan.sendable()):
        return None
    work = (
        OrderWork(w.order_id, tuple(c for c in w.changes if c.index not in skip))
        for w in plan.works()
        if any(c.index not in skip for c in w.changes)
    )
    recorder = RunRecorder(journal, progress.request, profile=options.api.profile)
    breaker = Breaker() if options.breaker else None
    conditions = preconditions or {}

    def on_rows(results: list[RowResult]) -> None:
        progress.rows(r.outcome for r in results)
        for result in results:
            if breaker is None or result.outcome is Outcome.NOT_ATTEMPTED:
                continue
            reason = breaker.record(result.error_code, locate(result.index))
            if reason is not None:
                client.halt(reason)

    def keep_rate(controller: AdaptiveRate) -> None:
        journal.rate_used(
            auto=options.api.rate_auto,
            final_per_s=controller.current_per_s,
            found_per_s=controller.found_per_s,
            settled_per_s=controller.settled_per_s(),
        )

    async with QuivoClient(options.api, credentials, observer=recorder, pace=pace) as client:
        client.accounting.on_rate = keep_rate  # resume continues at the rate found
        progress.bind_halt(client.interrupt)  # the UI's Stop is an interrupt, as Ctrl-C
        journal.on_failure = client.halt  # a journal that cannot be written stops sending
        with stop_on_signals(client):
            ahead: SummariesAhead | None = None
            if await client.login() and not options.dry_run:
                if conditions and options.api.profile.stale_check == "search":
                    wanted = _worth_searching(
                        plan, conditions, skip, images, snapshot=options.snapshot
                    )
                    ahead = SummariesAhead(client, wanted)
                await run_on_each(
                    work,
                    lambda order: process_order(
                        order,
                        client=client,
                        journal=journal,
                        refetch=options.refetch,
                        earlier_attempts=earlier_attempts,
                        on_rows=on_rows,
                        snapshot=options.snapshot,
                        precondition=conditions.get(order.order_id),
                        ahead=ahead,
                        images=images,
                    ),
                    max_at_once=options.api.concurrency * 4,
                    stop=client.stop,
                    grace_s=lambda: finish_grace_s(client),
                )
        if client.accounting.adaptive is not None:
            keep_rate(client.accounting.adaptive)
        await journal.durable()
        return client.stop_reason


def finish_missing(
    plan: Plan, journal: Journal, *, stopped: str | None, dry_run: bool
) -> list[RowResult]:
    """Rows without an outcome after sending: dry-run rows, or rows the stop cut off."""
    finished = journal.finished_indexes()
    attempts = journal.attempts_by_row()
    missing = [row for row in plan.sendable() if row[0] not in finished]
    if dry_run and stopped is None:
        results = [
            RowResult(index=index, outcome=Outcome.DRY_RUN, order_id=order_id, action=action)
            for index, order_id, action in missing
        ]
    else:
        stop = Answer(None, None, ErrorCode.ABORTED, stopped or "the run was stopped", 0, None)
        results = [
            judge(
                plan.checked.change(index),
                stop,
                None,
                earlier_attempts=attempts.get(index, 0),
            )
            for index, _, _ in missing
        ]
    journal.finish_rows(results)
    journal.commit()
    return results
