"""Poll one feed: a polite, bounded, conditional fetch; parsing off the event loop.

FeedPoller.poll(url, source, state)
  ├─ HostLimiter + global slots  politeness: few requests per host, one connection pool
  ├─ http.fetch                   conditional GET within timeouts, deadline and size caps
  ├─ body hash                    the same bytes as last time are not parsed again
  └─ ParsePool.parse              parse.parse_document in a worker process (small: a thread)
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from monitor.models import Article
from monitor.sources.errors import SourceError
from monitor.sources.http import FetchLimits, FetchResult, HostLimiter, Validators, fetch

if TYPE_CHECKING:
    from concurrent.futures import Executor, ProcessPoolExecutor

    from monitor.analysis import Analysis, Analyzer
    from monitor.sources.parse import ParsedFeed

    # What a worker parses: content, source, base URL and the analyzer (see parse.read_feed).
    Document = tuple[bytes, str, str, Analyzer | None]

log = logging.getLogger(__name__)

# Below this many bytes a document is parsed in a thread: shipping it to a process costs more.
INLINE_PARSE_BYTES = 16 * 1024
# Documents that wait for a worker go to it this many at most in one job, and each worker
# has this many jobs in flight at most (see ParsePool; measured: 2 per worker left workers
# idle while a write held the event loop, 8 gained nothing over 4, nor batches of 8).
PARSE_BATCH = 4
JOBS_PER_WORKER = 4


def parse_feed(content: bytes, source: str, base_url: str = "") -> list[Article]:
    """Articles from a feed document; SourceError when the bytes are not a (safe) feed."""
    from monitor.sources.parse import parse_document

    return parse_document(content, source, base_url).articles


@dataclass(frozen=True)
class PollResult:
    """One good poll: ``status`` is ``new``, ``unchanged`` (same bytes) or ``not modified``."""

    status: str
    fetched: FetchResult
    body_hash: str | None
    articles: list[Article] = field(default_factory=list)
    ttl: timedelta | None = None
    analyses: list[Analysis] | None = None

    @property
    def hints(self) -> list[timedelta | None]:
        """The server's lower bounds on the next poll."""
        return [self.fetched.max_age, self.fetched.retry_after, self.ttl]


class ParsePool:
    """Parses documents off the event loop on every core; one process pool for the lifetime.

    At most ``JOBS_PER_WORKER × workers`` jobs are in flight, so that every worker has work
    queued while the event loop is busy writing (a finished job makes room only when the loop
    next runs). Documents that arrive beyond that wait here and go to a worker together, up
    to ``batch`` in one job: one message each way instead of one per document, and each
    message costs this process's executor threads about half a millisecond of CPU (GIL
    hand-offs included), in the process every document passes through. A document that
    arrives while there is room goes at once, alone."""

    def __init__(
        self,
        workers: int | None = None,
        inline_below: int = INLINE_PARSE_BYTES,
        batch: int = PARSE_BATCH,
    ) -> None:
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.inline_below = inline_below
        self.batch = batch
        self.jobs = 0  # jobs sent to the workers so far
        self._executor: ProcessPoolExecutor | None = None
        self._waiting: list[tuple[Document, asyncio.Future[ParsedFeed]]] = []
        self._in_flight = 0

    async def parse(
        self, content: bytes, source: str, base_url: str, analyzer: Analyzer | None = None
    ) -> ParsedFeed:
        """Parse (and analyse) one document; any failure is a SourceError of kind ``parse``,
        recorded on its feed, whatever a parser or the classifier raised."""
        # The parsers load with the first document: a pass answered only with 304s never
        # imports them, nor the process pool. Workers import only ``parse`` (and the
        # analyzer's modules).
        from concurrent.futures.process import BrokenProcessPool

        from monitor.sources import parse

        try:
            if len(content) < self.inline_below:
                return await asyncio.to_thread(parse.read_feed, content, source, base_url, analyzer)
            loop = asyncio.get_running_loop()
            parsed: asyncio.Future[ParsedFeed] = loop.create_future()
            self._waiting.append(((content, source, base_url, analyzer), parsed))
            self._dispatch(loop)
            return await parsed
        except SourceError:
            raise
        except BrokenProcessPool as exc:
            # A worker died (killed, or a parser crashed on this document): start afresh.
            raise SourceError("the parser process died on this document", "parse") from exc
        except Exception as exc:  # a bug in a parser or the classifier, met on this document
            log.exception("parsing a document from %s failed", source)
            raise SourceError(f"parsing failed: {type(exc).__name__}: {exc}", "parse") from exc

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send waiting documents to the workers while there is room for another job."""
        from monitor.sources import parse

        while self._waiting and self._in_flight < JOBS_PER_WORKER * self.workers:
            taken, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
            taken = [(document, parsed) for document, parsed in taken if not parsed.done()]
            if not taken:
                continue
            try:
                executor = self._pool()
                job = loop.run_in_executor(executor, parse.read_feeds, [d for d, _ in taken])
            except Exception as exc:  # no worker to be had (no room for a process ...)
                for _, parsed in taken:
                    parsed.set_exception(exc)
                continue
            self._in_flight += 1
            self.jobs += 1
            job.add_done_callback(functools.partial(self._settle, taken, executor, loop))

    def _settle(
        self,
        taken: list[tuple[Document, asyncio.Future[ParsedFeed]]],
        executor: Executor,
        loop: asyncio.AbstractEventLoop,
        job: asyncio.Future[list[ParsedFeed | Exception]],
    ) -> None:
        """Hand each document of a finished job its outcome, and send the next ones."""
        from concurrent.futures.process import BrokenProcessPool

        self._in_flight -= 1
        if job.cancelled():
            outcomes: list[ParsedFeed | BaseException] = [asyncio.CancelledError()] * len(taken)
        elif (error := job.exception()) is not None:
            if isinstance(error, BrokenProcessPool) and executor is self._executor:
                self.close(cancel_waiting=False)  # the next job starts a fresh pool
            outcomes = [error] * len(taken)
        else:
            outcomes = list(job.result())
        for (_, parsed), outcome in zip(taken, outcomes, strict=True):
            if parsed.done():
                continue
            if isinstance(outcome, asyncio.CancelledError):
                parsed.cancel()
            elif isinstance(outcome, BaseException):
                parsed.set_exception(outcome)
            else:
                parsed.set_result(outcome)
        self._dispatch(loop)

    def _pool(self) -> Executor:
        if self._executor is None:
            from concurrent.futures import ProcessPoolExecutor

            from monitor.sources import workers

            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=workers.context(), initializer=workers.in_background
            )
        return self._executor

    def close(self, cancel_waiting: bool = True) -> None:
        if cancel_waiting:
            for _, parsed in self._waiting:
                parsed.cancel()
            self._waiting = []
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class FeedPoller:
    """Fetches and parses feeds for one process, politely and within limits."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: FetchLimits,
        per_host: int,
        concurrency: int,
        parser: ParsePool | None = None,
    ) -> None:
        self.client = client
        self.limits = limits
        self.hosts = HostLimiter(per_host)
        self.slots = asyncio.Semaphore(concurrency)
        self.parser = parser or ParsePool()
        # Set by the service: articles are then classified and fingerprinted where parsed.
        self.analyzer: Analyzer | None = None

    async def poll(
        self, url: str, source: str, validators: Validators, last_hash: str | None
    ) -> PollResult:
        """Fetch conditionally and parse what changed; SourceError on any failure."""
        async with self.slots, self.hosts.slot(url):
            fetched = await fetch(self.client, url, validators, self.limits)
        if fetched.not_modified:
            # A 304 need not repeat the validators: keep the ones that earned it.
            kept = Validators(
                fetched.validators.etag or validators.etag,
                fetched.validators.last_modified or validators.last_modified,
            )
            if kept != fetched.validators:
                fetched = replace(fetched, validators=kept)
            return PollResult("not modified", fetched, last_hash)
        body_hash = hashlib.sha256(fetched.content).hexdigest()
        if body_hash == last_hash:
            return PollResult("unchanged", fetched, body_hash)
        parsed = await self.parser.parse(fetched.content, source, fetched.url, self.analyzer)
        return PollResult("new", fetched, body_hash, parsed.articles, parsed.ttl, parsed.analyses)

    def close(self) -> None:
        self.parser.close()
