"""The running service's parts wired together: config, store, classifier, HTTP client.

Used by the daemon and by the one-shot commands alike, so ``poll --once`` does exactly what a
scheduled poll does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import TracebackType

import httpx

from monitor.classify import Classifier
from monitor.config import Config, FeedConfig
from monitor.errors import FetchError
from monitor.logging import event_fields
from monitor.metrics import record_pass
from monitor.notify import build_notifier
from monitor.notify.outbox import DeliveryReport, Outbox
from monitor.pipeline import IngestReport, Pipeline
from monitor.sources.feeds import fetch_feed, parse_feed
from monitor.store import Store, utcnow

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    """Counts from one pass over many sources."""

    sources: int = 0
    failed: int = 0
    ingest: IngestReport | None = None


class Service:
    """Owns the store (the single writer) and the HTTP client for one process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.database)
        self.classifier = Classifier(config.topics)
        self.pipeline = Pipeline(self.store, self.classifier, config.notifiers, config.stories)
        self.notifiers = {n.name: build_notifier(n) for n in config.enabled_notifiers}
        self.client = httpx.AsyncClient(
            headers={"User-Agent": config.user_agent},
            timeout=httpx.Timeout(20.0, connect=10.0),
            limits=httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=32),
            follow_redirects=True,
            max_redirects=5,
        )
        self._fetch_slots = asyncio.Semaphore(config.concurrency)
        self.outbox = Outbox(self.store, self.notifiers, self.client)
        self.store.sync_sources(
            [(f.name, "feed", f.url) for f in config.feeds]
            + [(s.name, "spider", s.url) for s in config.spiders]
        )

    def reconfigure(self, config: Config) -> None:
        """Swap in a reloaded config's rules, notifiers and sources; store and client stay.

        Everything new is built before anything is swapped, so a failure leaves the old parts.
        """
        classifier = Classifier(config.topics)
        notifiers = {n.name: build_notifier(n) for n in config.enabled_notifiers}
        pipeline = Pipeline(self.store, classifier, config.notifiers)
        self.store.sync_sources(
            [(f.name, "feed", f.url) for f in config.feeds]
            + [(s.name, "spider", s.url) for s in config.spiders]
        )
        self.config, self.classifier, self.pipeline, self.notifiers = (
            config,
            classifier,
            pipeline,
            notifiers,
        )
        self.outbox.notifiers = notifiers  # the outbox keeps its pauses across a reload

    async def __aenter__(self) -> Service:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()
        self.store.close()

    async def poll_feed(self, feed: FeedConfig) -> IngestReport | None:
        """Fetch, parse, ingest one feed; a failure is recorded on the source, never raised."""
        next_poll = utcnow() + self.config.interval_of(feed)
        try:
            async with self._fetch_slots:
                response = await fetch_feed(self.client, feed.url)
            articles = await asyncio.to_thread(
                parse_feed, response.content, feed.name, response.url
            )
        except FetchError as exc:
            self.store.record_failure(feed.name, str(exc), next_poll)
            record_pass("feed", feed.name, None)
            log.warning(
                "feed %s failed: %s",
                feed.name,
                exc,
                extra=event_fields("poll", kind="feed", source=feed.name, error=str(exc)),
            )
            return None
        report = self.pipeline.ingest(articles)
        self.store.record_success(feed.name, report.new, next_poll)
        record_pass("feed", feed.name, report)
        log.info(
            "feed %s: %d entries, %d new, %d matched, %d alerts",
            feed.name,
            report.seen,
            report.new,
            report.matched,
            report.alerts,
            extra=event_fields(
                "poll",
                kind="feed",
                source=feed.name,
                entries=report.seen,
                new=report.new,
                matched=report.matched,
                alerts=report.alerts,
            ),
        )
        return report

    async def poll_all(self) -> PassReport:
        """One pass over every configured feed, concurrently (bounded)."""
        results = await asyncio.gather(*(self.poll_feed(f) for f in self.config.feeds))
        total = IngestReport()
        for r in results:
            if r is not None:
                total += r
        failed = sum(r is None for r in results)
        return PassReport(sources=len(results), failed=failed, ingest=total)

    async def deliver(self, including_not_due: bool = False) -> DeliveryReport:
        """Try every due alert once (every pending one, backoff or not, when asked)."""
        return await self.outbox.deliver(ignore_schedule=including_not_due)
