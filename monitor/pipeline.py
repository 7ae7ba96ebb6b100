"""One way through the service: articles → story → store → classify → enqueue alerts, one
transaction. Alerts are keyed by story, so every copy of one article across outlets gets one
alert per notifier; later copies are only recorded on their story."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from monitor.analysis import Analysis
from monitor.classify import Classifier
from monitor.config import NotifierConfig, StoryConfig
from monitor.dedupe import unpack_bands
from monitor.models import Article, Classification, Entity, IngestReport
from monitor.notify.payload import alert_id, build_payload
from monitor.store import KnownArticle, Store
from monitor.stories import NewStory, Placement, Stories

log = logging.getLogger(__name__)


# One source's articles, their analyses (None: analyse here), and what to do in the same
# transaction once they are stored.
Batch = tuple[Sequence[Article], Sequence[Analysis] | None, Callable[[IngestReport], None] | None]


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
        self,
        store: Store,
        classifier: Classifier,
        notifiers: Iterable[NotifierConfig],
        stories: StoryConfig | None = None,
    ) -> None:
        self.store = store
        self.classifier = classifier
        self.notifiers = [n for n in notifiers if n.enabled]
        self.story_config = stories or StoryConfig()
        self.stories = Stories(store, self.story_config)

    def ingest(
        self, articles: Sequence[Article], analyses: Sequence[Analysis] | None = None
    ) -> IngestReport:
        """Everything in one transaction: a crash leaves either all of the batch or none.

        ``analyses`` (one per article, in order) are verdicts and fingerprints computed
        already, in a parse worker; without them each new article is analysed here."""
        batch = {a.url: a for a in articles}
        given = (
            {} if analyses is None else {a.url: x for a, x in zip(articles, analyses, strict=True)}
        )
        report = IngestReport(seen=len(batch))
        with self.store.atomic():
            self.stories.refresh()
            known = self.store.articles_by_url(list(batch))
            new = [analysis for url, analysis in given.items() if url not in known]
            self.stories.expect([a.fingerprint for a in new], [a.bands for a in new])
            try:
                self._ingest_in_order(batch.values(), known, given, report)
            finally:
                self.stories.done_expecting()
        return report

    def _ingest_in_order(
        self,
        articles: Iterable[Article],
        known: Mapping[str, KnownArticle],
        given: Mapping[str, Analysis],
        report: IngestReport,
    ) -> None:
        """Each article as if stored one after the other. Those that start a story with nothing
        to weigh (most of a new feed's) are written together, before anything that reads the
        store about another one."""
        opened: list[NewStory] = []
        for article in articles:
            stored = known.get(article.url)
            if stored is not None and stored.source == article.source:
                continue
            analysis = given.get(article.url)
            if stored is None and analysis is not None:
                story = self.stories.open_story(article, analysis)
                if story is not None:
                    opened.append(story)
                    continue
            self._store_opened(opened, report)
            opened = []
            if stored is None:
                self._ingest_new(article, analysis, report)
            else:
                self._seen_elsewhere(stored, article, report)
        self._store_opened(opened, report)

    def _store_opened(self, opened: Sequence[NewStory], report: IngestReport) -> None:
        """Store the first copies of new stories, then record and alert their matches."""
        self.stories.store_new(opened)
        report.new += len(opened)
        for story in opened:
            result = story.analysis.classification
            if result.topics:
                self._matched(story.article_id, story.article, result, report)
                report.alerts += self._enqueue(
                    story.article_id, story.article, result, story.article.url
                )

    def ingest_many(self, batches: Sequence[Batch]) -> list[IngestReport | Exception]:
        """Several sources' batches in one transaction (one commit is much cheaper than many).

        Each batch is a savepoint of its own, together with its ``then`` (what the source
        records about the poll that brought it, given the report): a batch that fails is
        rolled back alone and its error returned in its place, while the others are stored."""
        reports: list[IngestReport | Exception] = []
        with self.store.atomic():
            for articles, analyses, then in batches:
                try:
                    with self.store.atomic():
                        report = self.ingest(articles, analyses)
                        if then is not None:
                            then(report)
                except Exception as exc:  # noqa: BLE001 - the caller records it on its source
                    log.exception("ingest failed for a batch of %d articles", len(articles))
                    reports.append(exc)
                else:
                    reports.append(report)
        return reports

    def _ingest_new(
        self, article: Article, analysis: Analysis | None, report: IngestReport
    ) -> None:
        if analysis is None:
            placement = self.stories.place(article)
        else:
            bands = None if analysis.bands is None else unpack_bands(analysis.bands)
            placement = self.stories.place(article, analysis.fingerprint, bands)
        article_id = self.store.insert_article(article, story_id=placement.story_id)
        if article_id is None:
            return
        report.new += 1
        earlier = set() if placement.is_new else self._story_topics(placement.story_id)
        new_source = self.stories.remember(article_id, article, placement)
        if analysis is None:
            result = self.classifier.classify(article.title, article.body)
        else:
            result = analysis.classification
        if result.topics:
            self._matched(article_id, article, result, report)
            report.alerts += self._enqueue(article_id, article, result, placement.story_key)
            report.alerts += self._follow_up_on_topics(
                placement, article_id, article, result, earlier
            )
        if new_source and earlier:
            report.alerts += self._follow_up_on_sources(placement, article_id, article)

    def _matched(
        self, article_id: int, article: Article, result: Classification, report: IngestReport
    ) -> None:
        self.store.record_matches(article_id, result)
        report.matched += 1
        log.info("match %s %s: %s", ",".join(result.topics), article.source, article.title)

    def _seen_elsewhere(self, stored: KnownArticle, article: Article, report: IngestReport) -> None:
        """A stored page carried by another source too: one more source for its story."""
        placement = self.stories.sighted(stored, article)
        if placement is not None and self._story_topics(placement.story_id):
            report.alerts += self._follow_up_on_sources(placement, stored.id, article)

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
                    story = self.store.story_key_of_article(article_id) or article.url
                    report.alerts += self._enqueue(article_id, article, result, story)
        return report

    def _enqueue(
        self, article_id: int, article: Article, result: Classification, story_key: str
    ) -> int:
        """Persist one alert per (story, interested notifier); returns how many were new."""
        queued = 0
        for notifier in self.notifiers:
            if not notifier.wants(result.topics):
                continue
            key = alert_id(story_key, notifier.name)
            payload = build_payload(key, article, result)
            if self.store.enqueue_alert(key, notifier.name, article_id, result.topics, payload):
                queued += 1
        return queued

    # -- optional follow-up alerts about a story that alerted already ---------------------------

    def _follow_up_on_topics(
        self,
        placement: Placement,
        article_id: int,
        article: Article,
        result: Classification,
        earlier: set[str],
    ) -> int:
        """When a later copy brings a topic the story had not matched before."""
        gained = sorted(set(result.topics) - earlier)
        if not (self.story_config.follow_up.new_topic and earlier and gained):
            return 0
        reason = {"reason": "new_topic", "topics": gained}
        return sum(
            self._follow_up(placement, notifier, article_id, article, result, reason)
            for notifier in self.notifiers
            if notifier.wants(gained) and notifier.wants(sorted(earlier))
        )

    def _follow_up_on_sources(self, placement: Placement, article_id: int, article: Article) -> int:
        """When the story reaches ``follow_up.sources`` sources."""
        threshold = self.story_config.follow_up.sources
        if not threshold:
            return 0
        sources = self.store.story_sources([placement.story_id])[placement.story_id]
        if len(sources) != threshold:
            return 0
        result = self._story_classification(placement.story_id)
        reason = {"reason": "sources", "sources": sources}
        return sum(
            self._follow_up(placement, notifier, article_id, article, result, reason)
            for notifier in self.notifiers
            if notifier.wants(result.topics)
        )

    def _follow_up(
        self,
        placement: Placement,
        notifier: NotifierConfig,
        article_id: int,
        article: Article,
        result: Classification,
        reason: Mapping[str, object],
    ) -> bool:
        """A second alert about a story, with an id of its own that names why it was sent."""
        why = json.dumps(reason, sort_keys=True)
        key = alert_id(f"{placement.story_key}\nfollow-up {why}", notifier.name)
        payload = build_payload(key, article, result)
        payload["event"] = "story_update"
        payload["story"] = {
            "first_url": placement.story_key,
            "alert": alert_id(placement.story_key, notifier.name),
            **reason,
        }
        return self.store.enqueue_alert(key, notifier.name, article_id, result.topics, payload)

    def _story_topics(self, story_id: int) -> set[str]:
        return {row["topic"] for row in self.store.story_matches(story_id)}

    def _story_classification(self, story_id: int) -> Classification:
        """The story's verdict rebuilt from its copies' matches (best score per topic)."""
        rows = self.store.story_matches(story_id)
        scores: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        for row in rows:
            scores[row["topic"]] = max(scores.get(row["topic"], 0.0), row["score"])
            why.setdefault(row["topic"], json.loads(row["why"] or "[]"))
        entities = json.loads(rows[0]["entities"] or "[]") if rows else []
        return Classification(list(scores), scores, [Entity(**e) for e in entities], why)
