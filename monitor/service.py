"""The running service's parts wired together: config, store, classifier, HTTP client.

Used by the daemon and by the one-shot commands alike, so ``poll --once`` does exactly what a
scheduled poll does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from monitor.analysis import Analyzer
from monitor.batching import IngestBatcher
from monitor.config import Config, FeedConfig, SpiderConfig
from monitor.errors import FetchError
from monitor.logging import event_fields
from monitor.metrics import record_pass
from monitor.models import Article, IngestReport
from monitor.notify import build_notifier
from monitor.notify.outbox import DeliveryReport, Outbox
from monitor.schedule import (
    adaptive_interval,
    backoff_interval,
    jittered,
    policy_for,
    weekly_entries,
    with_hints,
)
from monitor.sources.errors import SourceError
from monitor.sources.feeds import FeedPoller, PollResult
from monitor.sources.http import FetchLimits, Validators, build_client
from monitor.store import FeedPoll, FeedState, Store, utcnow

if TYPE_CHECKING:
    from monitor.pipeline import Pipeline
    from monitor.sources.robots import RobotsRules

log = logging.getLogger(__name__)


def fetch_limits(config: Config) -> FetchLimits:
    """The config's fetch settings as the limits every fetch is held to."""
    fetch = config.fetch
    return FetchLimits(
        connect_timeout=fetch.connect_timeout.total_seconds(),
        read_timeout=fetch.read_timeout.total_seconds(),
        deadline=fetch.deadline.total_seconds(),
        max_bytes=fetch.max_bytes,
        max_decoded_bytes=fetch.max_decoded_bytes,
        max_redirects=fetch.max_redirects,
    )


@dataclass
class PassReport:
    """Counts from one pass over many sources (and the delivery after it, if any)."""

    sources: int = 0
    failed: int = 0
    ingest: IngestReport = field(default_factory=IngestReport)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


async def poll_and_deliver(config: Config) -> PassReport:
    """What ``monitor poll --once`` does: one pass over every feed, then one delivery."""
    async with Service(config) as service:
        report = await service.poll_all()
        report.delivery = await service.deliver()
    return report


class Service:
    """Owns the store (the single writer) and the HTTP client for one process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.database)
        # The rules travel to the parse workers, which classify and fingerprint what they
        # parse; this process compiles them only when it classifies something itself.
        self.analyzer = Analyzer.for_rules(config.topics, config.stories.similarity)
        self._pipeline: Pipeline | None = None  # made on first use (see ``pipeline``)
        self._robots: RobotsRules | None = None  # for full-text pages, on first use
        self.batcher = IngestBatcher(lambda batches: self.pipeline.ingest_many(batches))
        self.notifiers = {n.name: build_notifier(n) for n in config.enabled_notifiers}
        limits = fetch_limits(config)
        self.client: httpx.AsyncClient = build_client(config.user_agent, config.concurrency, limits)
        self.feeds = FeedPoller(self.client, limits, config.fetch.per_host, config.concurrency)
        self.feeds.analyzer = self.analyzer
        self.outbox = Outbox(self.store, self.notifiers, self.client)
        self.store.sync_sources(
            [(f.name, "feed", f.url) for f in config.feeds]
            + [(s.name, "spider", s.url) for s in config.spiders]
        )

    def reconfigure(self, config: Config) -> None:
        """Swap in a reloaded config's rules, notifiers and sources; store and client stay.

        Everything new is built before anything is swapped, so a failure leaves the old parts.
        """
        from monitor.pipeline import Pipeline

        analyzer = Analyzer.for_rules(config.topics, config.stories.similarity)
        classifier = analyzer.classifier.compile()
        notifiers = {n.name: build_notifier(n) for n in config.enabled_notifiers}
        pipeline = Pipeline(self.store, classifier, config.notifiers, config.stories)
        self.store.sync_sources(
            [(f.name, "feed", f.url) for f in config.feeds]
            + [(s.name, "spider", s.url) for s in config.spiders]
        )
        self.config, self._pipeline, self.notifiers = config, pipeline, notifiers
        self.analyzer = analyzer
        self.feeds.analyzer = analyzer
        self.outbox.notifiers = notifiers  # the outbox keeps its pauses across a reload

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline, made when first needed: a pass in which nothing changed stores
        nothing, and does not pay for the classifier, the story index or their imports."""
        if self._pipeline is None:
            from monitor.pipeline import Pipeline

            self._pipeline = Pipeline(
                self.store, self.analyzer.classifier, self.config.notifiers, self.config.stories
            )
        return self._pipeline

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
        self.feeds.close()
        await self.client.aclose()
        self.store.close()

    async def poll_feed(self, feed: FeedConfig) -> IngestReport | None:
        """Fetch, parse, ingest one feed and schedule its next poll; a failure is recorded on
        the source with its reason, never raised."""
        report, outcome = await self._poll(feed, self.store.feed_state(feed.name, feed.url))
        if outcome is not None:
            self.store.record_feed_polls([outcome])
        return report

    async def _poll(
        self, feed: FeedConfig, state: FeedState
    ) -> tuple[IngestReport | None, FeedPoll | None]:
        """One poll of a feed from its saved state: the ingest report (None: it failed) and
        what to record on the source. A poll that brought articles is recorded with them, in
        their transaction (then None is returned in its place)."""
        validators = Validators(state.etag, state.last_modified)
        try:
            result = await self.feeds.poll(feed.url, feed.name, validators, state.body_hash)
        except FetchError as exc:
            record_pass("feed", feed.name, None)
            return None, self._failed_poll(feed, state, exc)
        articles, analyses = result.articles, result.analyses
        if feed.full_text and articles:
            # Page text changes what the worker classified: the pipeline analyses anew.
            articles, analyses = await self.complete_from_pages(articles), None
        recorded = False

        def record(report: IngestReport) -> None:
            nonlocal recorded
            self.store.record_feed_polls([self._good_poll(feed, state, result, report)])
            recorded = True

        try:
            report = (
                await self.batcher.ingest(articles, analyses, record)
                if articles
                else IngestReport()
            )
        except Exception as exc:  # a bug or the database: this feed's batch was rolled back
            log.exception("feed %s: storing its articles failed", feed.name)
            record_pass("feed", feed.name, None)
            failure = SourceError(f"storing its articles failed: {exc}", "store")
            return None, self._failed_poll(feed, state, failure)
        record_pass("feed", feed.name, report)
        if result.status == "new":
            log.info(
                "feed %s: %d entries, %d new, %d matched, %d alerts",
                feed.name,
                report.seen,
                report.new,
                report.matched,
                report.alerts,
                extra=event_fields("poll", kind="feed", source=feed.name, **report.counts()),
            )
        else:
            log.debug("feed %s: %s", feed.name, result.status)
        return report, None if recorded else self._good_poll(feed, state, result, report)

    def _good_poll(
        self, feed: FeedConfig, state: FeedState, result: PollResult, report: IngestReport
    ) -> FeedPoll:
        now = utcnow()
        weekly = state.weekly_entries
        if result.status == "new":
            weekly = weekly_entries((a.published for a in result.articles), now)
        interval = adaptive_interval(policy_for(self.config, feed), weekly)
        interval = jittered(with_hints(interval, result.hints))
        return FeedPoll(
            feed.name,
            feed.url,
            result.status,
            now,
            now + interval,
            new_articles=report.new,
            etag=result.fetched.validators.etag,
            last_modified=result.fetched.validators.last_modified,
            body_hash=result.body_hash,
            weekly_entries=weekly,
        )

    def _failed_poll(self, feed: FeedConfig, state: FeedState, exc: FetchError) -> FeedPoll:
        kind = exc.kind if isinstance(exc, SourceError) else "fetch"
        retry_after = exc.retry_after if isinstance(exc, SourceError) else None
        failures = state.consecutive_failures + 1
        interval = backoff_interval(policy_for(self.config, feed), failures, retry_after)
        log.warning(
            "feed %s failed (%s): %s",
            feed.name,
            kind,
            exc,
            extra=event_fields(
                "poll", kind="feed", source=feed.name, error=str(exc), error_kind=kind
            ),
        )
        now = utcnow()
        return FeedPoll(
            feed.name,
            feed.url,
            "failed",
            now,
            now + jittered(interval),
            error=str(exc),
            error_kind=kind,
        )

    def next_poll(self, feed: FeedConfig) -> datetime | None:
        """When the feed is due, as its last poll scheduled it (None: never polled)."""
        return self.store.feed_state(feed.name, feed.url).next_poll

    async def complete_from_pages(self, entries: list[Article]) -> list[Article]:
        """Feed entries completed from their article pages (feeds with ``full_text: true``)."""
        from monitor.sources.fulltext import complete_from_pages
        from monitor.sources.robots import RobotsRules

        if self._robots is None:
            self._robots = RobotsRules(self.client, self.config.user_agent)
        known = self.store.known_urls([e.url for e in entries])
        return await complete_from_pages(
            self.client, entries, known, self.feeds.slots, self._robots
        )

    async def crawl_spider(
        self, spider: SpiderConfig, verbose: bool = False
    ) -> IngestReport | None:
        """Run one spider crawl (in a child process) through the pipeline; like a feed poll,
        a failure is recorded on the source, never raised. Articles that arrived before a
        failure are kept."""
        from monitor.sources.crawl import run_crawl

        next_poll = utcnow() + self.config.interval_of(spider)
        try:
            report = await run_crawl(spider, self.config, self.pipeline.ingest, verbose)
        except FetchError as exc:
            self._spider_failed(spider, str(exc), next_poll)
            return None
        if report.error:
            self._spider_failed(spider, report.error, next_poll)
            return None
        ingest = report.ingest
        self.store.record_success(spider.name, ingest.new, next_poll)
        record_pass("spider", spider.name, ingest)
        log.info(
            "spider %s: %d pages fetched, %d stored pages skipped, %d refused by robots.txt;"
            " %d articles, %d new, %d matched, %d alerts",
            spider.name,
            report.pages,
            report.known_skipped,
            report.robots_forbidden,
            report.articles,
            ingest.new,
            ingest.matched,
            ingest.alerts,
            extra=event_fields(
                "crawl",
                kind="spider",
                source=spider.name,
                pages=report.pages,
                known_skipped=report.known_skipped,
                robots_forbidden=report.robots_forbidden,
                **ingest.counts(),
            ),
        )
        return ingest

    def _spider_failed(self, spider: SpiderConfig, error: str, next_poll: datetime) -> None:
        self.store.record_failure(spider.name, error, next_poll)
        record_pass("spider", spider.name, None)
        log.warning(
            "spider %s failed: %s",
            spider.name,
            error,
            extra=event_fields("crawl", kind="spider", source=spider.name, error=error),
        )

    async def poll_all(self) -> PassReport:
        """One pass over every configured feed, concurrently (bounded).

        The feeds' states are read in one query. A poll that brought articles is recorded in
        the transaction that stores them; the rest (not modified, unchanged, failed), which
        stored nothing, are recorded together in one transaction when the pass ends. A crash
        before that loses only their poll times, so they are polled again.
        """
        feeds = self.config.feeds
        states = self.store.feed_states([(f.name, f.url) for f in feeds])
        stored_nothing: list[FeedPoll] = []

        async def poll_one(feed: FeedConfig) -> IngestReport | None:
            report, outcome = await self._poll(feed, states[feed.name])
            if outcome is not None:
                stored_nothing.append(outcome)
            return report

        try:
            results = await asyncio.gather(*(poll_one(f) for f in feeds))
        finally:
            self.store.record_feed_polls(stored_nothing)
        total = IngestReport()
        for r in results:
            if r is not None:
                total += r
        failed = sum(r is None for r in results)
        return PassReport(sources=len(results), failed=failed, ingest=total)

    async def deliver(self, including_not_due: bool = False) -> DeliveryReport:
        """Try every due alert once (every pending one, backoff or not, when asked)."""
        return await self.outbox.deliver(ignore_schedule=including_not_due)
