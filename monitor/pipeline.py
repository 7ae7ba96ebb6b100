"""One way through the service: articles → store → classify → enqueue alerts, one transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from monitor.classify import Classifier
from monitor.config import NotifierConfig
from monitor.models import Article, Classification
from monitor.notify.payload import alert_id, build_payload
from monitor.store import Store

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """Counts from one batch of articles."""

    seen: int = 0
    new: int = 0
    matched: int = 0
    alerts: int = 0

    def __iadd__(self, other: IngestReport) -> IngestReport:
        self.seen += other.seen
        self.new += other.new
        self.matched += other.matched
        self.alerts += other.alerts
        return self


@dataclass
class ReplayReport:
    """What re-running the rules over stored articles found."""

    articles: int = 0
    matched: int = 0
    new_matches: int = 0
    alerts: int = 0
    stories: list[tuple[Article, list[str]]] = field(default_factory=list)


class Pipeline:
    """Stores new articles, classifies them and enqueues one alert per (story, notifier)."""

    def __init__(
        self, store: Store, classifier: Classifier, notifiers: Iterable[NotifierConfig]
    ) -> None:
        self.store = store
        self.classifier = classifier
        self.notifiers = [n for n in notifiers if n.enabled]

    def ingest(self, articles: Iterable[Article]) -> IngestReport:
        """Everything in one transaction: a crash leaves either all of the batch or none."""
        batch = {a.url: a for a in articles}
        report = IngestReport(seen=len(batch))
        with self.store.atomic():
            known = self.store.known_urls(list(batch))
            for article in batch.values():
                if article.url not in known:
                    self._ingest_new(article, report)
        return report

    def _ingest_new(self, article: Article, report: IngestReport) -> None:
        article_id = self.store.insert_article(article)
        if article_id is None:
            return
        report.new += 1
        result = self.classifier.classify(article.title, article.body)
        if not result.topics:
            return
        self.store.record_matches(article_id, result)
        report.matched += 1
        log.info("match %s %s: %s", ",".join(result.topics), article.source, article.title)
        report.alerts += self._enqueue(article_id, article, result)

    def replay(self, since: timedelta | None, alert: bool = False) -> ReplayReport:
        """Re-run the current rules over stored articles and record matches they did not have.

        With ``alert``, enqueue alerts for matching stories that have none yet (one per story
        and notifier as ever: a story alerted before is not alerted again), so a preview run
        without ``alert`` can be followed by one with it."""
        report = ReplayReport()
        with self.store.atomic():
            for article_id, article in self.store.stored_articles(since):
                report.articles += 1
                result = self.classifier.classify(article.title, article.body)
                if not result.topics:
                    continue
                report.matched += 1
                new = self.store.record_matches(article_id, result)
                if new:
                    report.new_matches += len(new)
                    report.stories.append((article, new))
                if alert:
                    report.alerts += self._enqueue(article_id, article, result)
        return report

    def _enqueue(self, article_id: int, article: Article, result: Classification) -> int:
        """Persist one alert per interested notifier; returns how many were new."""
        queued = 0
        for notifier in self.notifiers:
            if not notifier.wants(result.topics):
                continue
            key = alert_id(article.url, notifier.name)
            payload = build_payload(key, article, result)
            if self.store.enqueue_alert(key, notifier.name, article_id, result.topics, payload):
                queued += 1
        return queued
