"""Store what many sources deliver at about the same time in one transaction.

A commit is the dearest part of storing a feed's articles (SQLite writes the WAL, and FTS5 a
new index segment, once per transaction), so articles from feeds that finish close together
share one. Nothing waits for a batch to fill: the first delivery schedules a write for the
next turn of the event loop, and whatever else arrived by then goes along. While one write
runs, the deliveries that land meanwhile gather for the next, so batches grow with the load
and a lone feed is stored at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from monitor.models import Article, IngestReport

if TYPE_CHECKING:
    from monitor.analysis import Analysis
    from monitor.pipeline import Batch

    IngestMany = Callable[[Sequence[Batch]], list[IngestReport | Exception]]

# Articles per transaction at most: a long write holds the event loop (and every fetch) up.
MAX_ARTICLES = 500


class IngestBatcher:
    """Gathers batches of articles delivered within one turn of the loop into one write."""

    def __init__(self, ingest_many: IngestMany, max_articles: int = MAX_ARTICLES) -> None:
        self.ingest_many = ingest_many
        self.max_articles = max_articles
        self._pending: list[tuple[Batch, asyncio.Future[IngestReport]]] = []
        self._scheduled = False

    async def ingest(
        self,
        articles: Sequence[Article],
        analyses: Sequence[Analysis] | None = None,
        then: Callable[[IngestReport], None] | None = None,
    ) -> IngestReport:
        """Store one source's articles (and run ``then`` with the report in the same
        transaction); returns once they are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestReport] = loop.create_future()
        self._pending.append(((articles, analyses, then), future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._write)
        return await future

    def _write(self) -> None:
        self._scheduled = False
        # A delivery whose poll was cancelled meanwhile (shutdown) is not stored: its feed
        # state was not recorded either, so the next poll fetches it again.
        pending = [(batch, future) for batch, future in self._pending if not future.done()]
        taken, size = 0, 0
        while taken < len(pending) and (taken == 0 or size < self.max_articles):
            size += len(pending[taken][0][0])
            taken += 1
        now, self._pending = pending[:taken], pending[taken:]
        if self._pending:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write)
        if not now:
            return
        try:
            results = self.ingest_many([batch for batch, _ in now])
        except Exception as exc:  # the transaction itself failed (disk full, locked ...)
            for _, future in now:
                future.set_exception(exc)
            return
        for (_, future), result in zip(now, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
