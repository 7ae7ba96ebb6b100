"""Poll one feed: a polite, bounded, conditional fetch; parsing off the event loop.

FeedPoller.poll(url, source, state)
  ├─ HostLimiter + global slots  politeness: few requests per host, one connection pool
  ├─ http.fetch                   conditional GET within timeouts, deadline and size caps
  ├─ body hash                    the same bytes as last time are not parsed again
  └─ ParsePool.parse              parse.parse_document in a worker process (small: a thread)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from monitor.models import Article
from monitor.sources import workers
from monitor.sources.errors import SourceError
from monitor.sources.http import FetchLimits, FetchResult, HostLimiter, Validators, fetch

if TYPE_CHECKING:
    from monitor.analysis import Analysis, Analyzer
    from monitor.sources.parse import ParsedFeed

log = logging.getLogger(__name__)

# Below this many bytes a document is parsed in a thread: shipping it to a process costs more.
INLINE_PARSE_BYTES = 16 * 1024


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
    """Parses documents off the event loop on every core; one process pool for the lifetime."""

    def __init__(self, workers: int | None = None, inline_below: int = INLINE_PARSE_BYTES) -> None:
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.inline_below = inline_below
        self._executor: ProcessPoolExecutor | None = None

    async def parse(
        self, content: bytes, source: str, base_url: str, analyzer: Analyzer | None = None
    ) -> ParsedFeed:
        """Parse (and analyse) one document; any failure is a SourceError of kind ``parse``,
        recorded on its feed, whatever a parser or the classifier raised."""
        # The parsers load with the first document: a pass answered only with 304s never
        # imports them. Workers import only ``parse`` (and the analyzer's modules).
        from monitor.sources import parse

        try:
            if len(content) < self.inline_below:
                return await asyncio.to_thread(parse.read_feed, content, source, base_url, analyzer)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._pool(), parse.read_feed, content, source, base_url, analyzer
            )
        except SourceError:
            raise
        except BrokenProcessPool as exc:
            # A worker died (killed, or a parser crashed on this document): start afresh.
            self.close()
            raise SourceError("the parser process died on this document", "parse") from exc
        except Exception as exc:  # a bug in a parser or the classifier, met on this document
            log.exception("parsing a document from %s failed", source)
            raise SourceError(f"parsing failed: {type(exc).__name__}: {exc}", "parse") from exc

    def _pool(self) -> Executor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=workers.context(), initializer=workers.in_background
            )
        return self._executor

    def close(self) -> None:
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
            return PollResult("not modified", replace(fetched, validators=kept), last_hash)
        body_hash = hashlib.sha256(fetched.content).hexdigest()
        if body_hash == last_hash:
            return PollResult("unchanged", fetched, body_hash)
        parsed = await self.parser.parse(fetched.content, source, fetched.url, self.analyzer)
        return PollResult("new", fetched, body_hash, parsed.articles, parsed.ttl, parsed.analyses)

    def close(self) -> None:
        self.parser.close()
