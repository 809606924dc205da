"""Resolve shop order numbers and references to orderIds before anything is sent
(docs/reference/inputs.md).

Rows keyed by `orderIdentifier` (`#1001`) or `orderReference` are looked up in
batches: one `GET /orders` per ~50 values, an OR query in the API's
Elasticsearch query-string syntax (`orderIdentifier:"#1001" OR
orderIdentifier:"#1002"`), paced and journaled like every request of the run
(kind `lookup`). A full page is followed with `searchAfter`. So 3,000
identifiers cost about 60 requests, not 3,000.

    resolved = await resolve_keys(keys, client=client, profile=profile)
    resolved["orderIdentifier\\x1f#1001"]  # 4100001, or (ErrorCode.AMBIGUOUS_ORDER, "...")
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import polars as pl

from pipeline.api.client import QuivoClient
from pipeline.api.interrupts import stop_on_signals
from pipeline.api.profile import ApiProfile
from pipeline.api.rate.shared import Pace
from pipeline.api.settings import Credentials
from pipeline.config.settings import RunOptions
from pipeline.core.errors import ApiUnusable
from pipeline.core.executor import run_on_each
from pipeline.core.manifest import Manifest
from pipeline.core.outcomes import ErrorCode
from pipeline.inputs.ids import KEY_SEPARATOR, Resolution, split_key
from pipeline.inputs.rows import keys_to_resolve
from pipeline.store.journal import Journal
from pipeline.store.recorder import RunRecorder

P = TypeVar("P")

PAGE_SIZE = 1000  # the API's largest page: a batch's matches nearly always fit in one
SORT_FIELD = "orderId"
MAX_PAGES = 100  # a runaway paging loop (a server ignoring searchAfter) stops here


def quoted(value: str) -> str:
    """A value as a quoted query-string term: `"#1001"`, with `\\` and `"` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def or_query(field: str, values: Sequence[str]) -> str:
    """`orderIdentifier:"#1001" OR orderIdentifier:"#1002"`."""
    return " OR ".join(f"{field}:{quoted(value)}" for value in values)


def batches(keys: Iterable[str], *, size: int) -> list[tuple[str, list[str]]]:
    """Distinct keys grouped by field, `size` values a batch: [(field, values), ...]."""
    by_field: dict[str, list[str]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        field, value = split_key(key)
        by_field[field].append(value)
    return [
        (field, values[start : start + size])
        for field, values in by_field.items()
        for start in range(0, len(values), size)
    ]


def judge_matches(
    field: str, values: Sequence[str], found: dict[str, list[int]]
) -> dict[str, Resolution]:
    """Each value's orderId, or why there is none: no match, or several."""
    resolved: dict[str, Resolution] = {}
    for value in values:
        order_ids = sorted(set(found.get(value, [])))
        key = field + KEY_SEPARATOR + value
        if len(order_ids) == 1:
            resolved[key] = order_ids[0]
        elif not order_ids:
            resolved[key] = (ErrorCode.ORDER_NOT_FOUND, f"no order has {field} '{value}'")
        else:
            named = ", ".join(str(o) for o in order_ids[:5])
            more = f" and {len(order_ids) - 5} more" if len(order_ids) > 5 else ""
            resolved[key] = (
                ErrorCode.AMBIGUOUS_ORDER,
                f"{field} '{value}' matches {len(order_ids)} orders ({named}{more});"
                " name the one meant in an orderId column",
            )
    return resolved


async def _search(
    client: QuivoClient, profile: ApiProfile, field: str, values: Sequence[str]
) -> dict[str, list[int]] | None:
    """Every order whose `field` is one of `values` (value -> orderIds); None when the
    API did not answer usably (the client is halted with why)."""
    found: dict[str, list[int]] = defaultdict(list)
    wanted = set(values)
    request = profile.search_request(or_query(field, values), page_size=PAGE_SIZE)
    params = dict(request.params or {}) | {"sort": f"{SORT_FIELD}:asc"}
    for _ in range(MAX_PAGES):
        answer = await client.call(request.method, request.path, params=params)
        if not answer.ok or not isinstance(answer.body, list):
            problem = answer.message if not answer.ok else "the answer is not a JSON array"
            client.halt(f"looking up {field} values failed ({problem})")
            return None
        for summary in answer.body:
            if isinstance(summary, dict) and summary.get(field) in wanted:
                order_id = summary.get("orderId")
                if isinstance(order_id, int):
                    found[str(summary[field])].append(order_id)
        if len(answer.body) < PAGE_SIZE:
            break
        last = answer.body[-1]
        after = last.get(SORT_FIELD) if isinstance(last, dict) else None
        params = params | {"searchAfter": str(after)}
    return found


async def resolve_keys(
    keys: Iterable[str], *, client: QuivoClient, profile: ApiProfile, concurrency: int = 4
) -> dict[str, Resolution]:
    """Resolve `field<US>value` keys through batched searches; raise ApiUnusable when the
    API cannot answer them (nothing has been sent then)."""
    resolved: dict[str, Resolution] = {}

    async def lookup(batch: tuple[str, list[str]]) -> None:
        field, values = batch
        found = await _search(client, profile, field, values)
        if found is not None:
            resolved.update(judge_matches(field, values, found))

    await run_on_each(
        batches(keys, size=profile.key_search_batch),
        lookup,
        max_at_once=concurrency,
        stop=client.stop,
    )
    if client.stop.is_set():
        raise ApiUnusable(
            f"{client.stop_reason or 'the lookup was stopped'}; nothing was sent."
            " Resume the run when the API answers again"
        )
    return resolved


async def _lookup(
    keys: list[str],
    *,
    journal: Journal,
    options: RunOptions,
    credentials: Credentials,
    pace: Pace | None,
) -> dict[str, Resolution]:
    recorder = RunRecorder(journal, lambda: None, profile=options.api.profile)
    # The run's sending client shares `pace`: its first request waits its turn behind
    # the lookups' last ones.
    async with QuivoClient(options.api, credentials, observer=recorder, pace=pace) as client:
        with stop_on_signals(client):
            await client.login()
            if client.stop.is_set():
                raise ApiUnusable(f"{client.stop_reason}; nothing was sent")
            resolved = await resolve_keys(
                keys,
                client=client,
                profile=options.api.profile,
                concurrency=options.api.concurrency,
            )
        await journal.durable()
    return resolved


def resolve_order_keys(
    prepared: P,
    fields: pl.DataFrame,
    *,
    replan: Callable[[dict[str, Resolution]], P],
    journal: Journal,
    options: RunOptions,
    credentials: Credentials,
    pace: Pace | None = None,
) -> P:
    """Resolve the rows of `fields` keyed by shop order number / reference, then `replan`
    with the orderIds found; `prepared` itself when no row needs it.

    The resolution is kept in the manifest, so a resumed run sends to the same orders.
    `pace`: the run's pacer and adaptive rate, shared with its sending (None: its own).
    """
    keys = keys_to_resolve(fields)
    if not keys:
        return prepared
    manifest = journal.manifest
    resolved = stored_resolution(manifest)
    if resolved is None:
        credentials.check()
        resolved = asyncio.run(
            _lookup(keys, journal=journal, options=options, credentials=credentials, pace=pace)
        )
        stored = {k: v if isinstance(v, int) else (str(v[0]), v[1]) for k, v in resolved.items()}
        journal.set_manifest(manifest.model_copy(update={"resolved_keys": stored}))
    return replan(resolved)


def stored_resolution(manifest: Manifest) -> dict[str, Resolution] | None:
    """The keys a run resolved before sending, from its manifest (None: not yet)."""
    stored = manifest.resolved_keys
    if stored is None:
        return None
    return {
        key: value if isinstance(value, int) else (ErrorCode(value[0]), str(value[1]))
        for key, value in stored.items()
    }
