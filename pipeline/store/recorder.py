"""The journal as the client's observer: every request recorded before it is sent and
its answer when it arrives (docs/durability.md), and the progress display told.

    recorder = RunRecorder(journal, progress.request, profile=options.api.profile)
    async with QuivoClient(options.api, credentials, observer=recorder) as client: ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pipeline.api.profile import ApiProfile
from pipeline.core.errors import OutputError
from pipeline.core.outcomes import NOT_SENT
from pipeline.store.journal import Journal


class RunRecorder:
    """The client's observer: journals every request and feeds the progress display."""

    def __init__(
        self, journal: Journal, on_request: Callable[[], None], *, profile: ApiProfile
    ) -> None:
        self._journal = journal
        self._profile = profile
        self._on_request = on_request

    async def sending(
        self, *, order_id: int | None, method: str, path: str, attempt: int, row: int | None = None
    ) -> int:
        """Journal the request before it is sent.

        Every row's change waits until its record is committed (one shared group commit,
        started at once): only the record tells a resume that the change went out, so a
        resumed row whose order already shows it is `applied`, not `unchanged`, and a
        cancel the API refuses as repeated is `applied`. When the record cannot be
        written (a full disk) the run stops and the change is not sent. Reads and
        refetches change nothing: they do not wait.
        """
        request_id = self._journal.sending(
            order_id=order_id, method=method, path=path, attempt=attempt, row=row
        )
        if row is not None:
            try:
                await self._journal.durable()
            except asyncio.CancelledError:  # stopped before it went out: it changed nothing
                self._journal.answered(request_id, status=None, error=NOT_SENT, latency_ms=0.0)
                raise
            except OutputError:
                pass  # the journal cannot be written: the run was stopped, this is not sent
        return request_id

    def answered(
        self, request_id: int, *, status: int | None, error: str | None, latency_ms: float
    ) -> None:
        self._journal.answered(request_id, status=status, error=error, latency_ms=latency_ms)
        if error != NOT_SENT:
            self._on_request()  # counted once it left the pacer: the shown rate is the real one
