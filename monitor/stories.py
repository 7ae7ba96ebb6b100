"""Which story an article belongs to: one story per piece of news, however many outlets carry it.

An incoming article joins an existing story when

1. it shares an exact key with a stored copy (``monitor.dedupe``): the same page (URL
   identity), the same GUID (unless the two texts plainly differ), or the same text; or
2. its MinHash signature is at least ``stories.similarity`` similar to a recent copy's, found
   through LSH bands kept in SQLite, and it was published within ``stories.window`` of the
   story's first copy (so a new swap months later starts a new story).

Otherwise it starts a story of its own, named for good by its canonical URL. A text or near
match with a copy from the *same* source needs similar titles too: a feed that repeats one
boilerplate summary under every headline must not fold its articles into one story.

The LSH bands of articles stored more than two windows ago are pruned as new ones arrive, so
the index stays bounded however long the log grows; it lives in SQLite, so it survives restarts
and is shared by every process writing the same database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from monitor.config import StoryConfig
from monitor.dedupe import (
    BandIndex,
    Fingerprint,
    band_keys,
    band_matrix,
    fingerprint,
    pack_bands,
    signature_bytes,
    signature_from_bytes,
    similarity,
    title_overlap,
)
from monitor.models import Article
from monitor.store import KnownArticle, Store, StoryCandidate, utcnow

if TYPE_CHECKING:
    from monitor.analysis import Analysis

log = logging.getLogger(__name__)

PRUNE_EVERY = 500
SAME_SOURCE_TITLE_OVERLAP = 0.5
GUID_MIN_SIMILARITY = 0.2
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class Placement:
    """The story an article belongs to and how that was decided."""

    story_id: int
    story_key: str
    how: str  # first, url, guid, text or near
    similarity: float | None = None
    fingerprint: Fingerprint | None = None
    bands: list[int] | None = None

    @property
    def is_new(self) -> bool:
        return self.how == "first"


@dataclass(frozen=True)
class NewStory:
    """An article that shares no key and no band with anything stored or on its way: the
    first copy of a story of its own, with the ids its rows will have."""

    article: Article
    analysis: Analysis
    article_id: int
    story_id: int
    first_published: datetime


class Stories:
    """Places articles in stories and records which sources carried each story."""

    def __init__(
        self, store: Store, config: StoryConfig, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._until_prune = 0
        # Band keys of recent articles, loaded from the store on first use and kept in step
        # with it: articles this process stores are added as they are; those other processes
        # store are read at the start of each batch (``refresh``).
        self._index: BandIndex | None = None
        self._refreshed_to = 0  # the highest article id read from the store
        self._own: set[int] = set()  # ids added here since the last refresh
        # A batch's exact keys looked up at once (``expect``): key -> the stored copy having it
        # (None: no copy has it), and the keys stored since, which that answer does not know.
        self._expected: dict[str, StoryCandidate | None] | None = None
        self._stored_keys: set[str] = set()
        # The (article id, story id) the next new story's rows take (None: ask the store).
        self._next_ids: tuple[int, int] | None = None

    def place(
        self, article: Article, fp: Fingerprint | None = None, bands: list[int] | None = None
    ) -> Placement:
        """Find the story of a new article, or start one (call ``remember`` once it is stored).

        ``fp`` and ``bands`` are the article's fingerprint when it was taken already (in a
        parse worker); otherwise it is taken here."""
        self._next_ids = None  # the rows stored this way take the store's next ids
        fp = fp or fingerprint(article)
        if bands is None and fp.signature is not None:
            bands = band_keys(fp.signature, self.config.similarity)
        when = self.anchor_time(article)
        found = self._exact(fp, article) or self._near(fp, bands or [], article, when)
        if found is not None:
            candidate, how, score = found
            return Placement(candidate.story_id, candidate.story_key, how, score, fp, bands)
        story_id = self.store.create_story(article.url, article.title, when)
        return Placement(story_id, article.url, "first", None, fp, bands)

    def expect(self, fingerprints: Sequence[Fingerprint], bands: Sequence[bytes | None]) -> None:
        """Look up the exact keys of a batch's new articles in one query, and their band keys
        in one search of the band index (instead of each once per article); ``place``
        answers from those until ``done_expecting``."""
        keys = list(dict.fromkeys(key for fp in fingerprints for key in fp.exact_keys))
        found = {c.via: c for c in self.store.stories_by_key(keys)}
        self._expected = {key: found.get(key) for key in keys}
        self._stored_keys = set()
        self._next_ids = None
        index = self._index if self._index is not None else self.refresh()
        index.expect([article_bands for article_bands in bands if article_bands])

    def done_expecting(self) -> None:
        self._expected = None
        self._stored_keys = set()
        self._next_ids = None
        if self._index is not None:
            self._index.expect([])

    def open_story(self, article: Article, analysis: Analysis) -> NewStory | None:
        """The article as the first copy of a new story when nothing stored, and no article
        opened since the batch was looked up (``expect``), shares an exact key or an LSH band
        with it: then ``place`` could only answer "first", and the story's rows can wait to
        be written with others (``store_new``). None when there is a candidate to weigh (or
        the batch was not looked up): ``place`` decides."""
        fp, bands = analysis.fingerprint, analysis.bands or b""
        keys, expected = fp.exact_keys, self._expected
        if (
            expected is None
            or self._index is None
            or any(expected.get(key, _UNKNOWN) is not None for key in keys)
            or not self._stored_keys.isdisjoint(keys)
            or (fp.signature is not None and not bands)
            or self._index.shares_any(bands)
        ):
            return None
        if self._next_ids is None:
            self._next_ids = self.store.next_ids()
        article_id, story_id = self._next_ids
        self._next_ids = (article_id + 1, story_id + 1)
        self._stored_keys.update(keys)
        return NewStory(article, analysis, article_id, story_id, self.anchor_time(article))

    def store_new(self, stories: Sequence[NewStory]) -> None:
        """Write the rows of stories opened by ``open_story``, all at once."""
        if not stories:
            return
        self.store.insert_new_stories(
            [
                (
                    story.article,
                    story.article_id,
                    story.story_id,
                    story.first_published,
                    story.analysis.fingerprint.exact_keys,
                    _signature_row(story.analysis.fingerprint, story.analysis.bands),
                )
                for story in stories
            ]
        )
        banded = [story for story in stories if story.analysis.bands]
        if self._index is not None and banded:
            ids = [story.article_id for story in banded]
            self._index.add_expected(ids, [story.analysis.bands or b"" for story in banded])
            self._own.update(ids)
        self._prune_now_and_then(len(stories))

    def remember(self, article_id: int, article: Article, placement: Placement) -> bool:
        """Record a stored article under its story; True when its source is new to the story."""
        fp = placement.fingerprint or fingerprint(article)
        signature = None
        if fp.signature is not None:
            bands = placement.bands or band_keys(fp.signature, self.config.similarity)
            signature = (signature_bytes(fp.signature), pack_bands(bands))
        index = self._index if self._index is not None else self.refresh()
        self.store.add_to_story(placement.story_id, article_id, fp.exact_keys, signature)
        if self._expected is not None:
            self._stored_keys.update(fp.exact_keys)
        if signature is not None:
            index.add(article_id, bands)
            self._own.add(article_id)
        self._prune_now_and_then(1)
        return self._sighting(placement.story_id, article_id, article, placement)

    def sighted(self, known: KnownArticle, article: Article) -> Placement | None:
        """A stored URL seen again, maybe at another source: note that source on its story."""
        if known.story_id is None:
            return None
        key = self.store.story_key(known.story_id)
        if key is None:
            return None
        placement = Placement(known.story_id, key, "url")
        return placement if self._sighting(known.story_id, known.id, article, placement) else None

    def anchor_time(self, article: Article) -> datetime:
        """When an article appeared: its published date, unless missing or in the future."""
        now = self.clock()
        published = article.published
        return published if published is not None and published <= now + FUTURE_SLACK else now

    # -- deciding --------------------------------------------------------------------------------

    def _exact(
        self, fp: Fingerprint, article: Article
    ) -> tuple[StoryCandidate, str, float | None] | None:
        keys, expected = fp.exact_keys, self._expected
        if (
            expected is not None
            and all(key in expected for key in keys)
            and self._stored_keys.isdisjoint(keys)
        ):
            by_key = {key: c for key in keys if (c := expected[key]) is not None}
        else:
            by_key = {c.via: c for c in self.store.stories_by_key(keys)}
        for key in keys:
            candidate = by_key.get(key)
            if candidate is not None and self._trusted(key, candidate, fp, article):
                return candidate, key.split(":", 1)[0], None
        return None

    def _trusted(
        self, key: str, candidate: StoryCandidate, fp: Fingerprint, article: Article
    ) -> bool:
        if key.startswith("url:"):
            return True
        if key.startswith("guid:"):
            return self._texts_agree(candidate, fp, article)
        return self._not_same_source_boilerplate(candidate, article)

    def _texts_agree(self, candidate: StoryCandidate, fp: Fingerprint, article: Article) -> bool:
        """A GUID reused for plainly different texts (a broken feed) proves nothing."""
        if fp.signature is not None and candidate.signature is not None:
            theirs = signature_from_bytes(candidate.signature)
            return similarity(fp.signature, theirs) >= GUID_MIN_SIMILARITY
        return title_overlap(candidate.title, article.title) >= SAME_SOURCE_TITLE_OVERLAP

    @staticmethod
    def _not_same_source_boilerplate(candidate: StoryCandidate, article: Article) -> bool:
        if candidate.source != article.source:
            return True
        return title_overlap(candidate.title, article.title) >= SAME_SOURCE_TITLE_OVERLAP

    def _near(
        self, fp: Fingerprint, bands: list[int], article: Article, when: datetime
    ) -> tuple[StoryCandidate, str, float | None] | None:
        if fp.signature is None:
            return None
        best: tuple[StoryCandidate, str, float | None] | None = None
        threshold = self.config.similarity
        index = self._index if self._index is not None else self.refresh()
        for candidate in self.store.stories_by_articles(index.shared(bands)):
            if candidate.signature is None or not self._in_window(candidate, when):
                continue
            score = similarity(fp.signature, signature_from_bytes(candidate.signature))
            if score < threshold or (best is not None and score <= (best[2] or 0.0)):
                continue
            if self._not_same_source_boilerplate(candidate, article):
                best = (candidate, "near", round(score, 3))
        return best

    def refresh(self) -> BandIndex:
        """Bring the band index up to date with the store (call at the start of a batch)."""
        if self._index is None:
            self._band_stored_signatures()
            self._index = BandIndex()
        rows = self.store.signature_bands(self._refreshed_to)
        fresh = [(article_id, blob) for article_id, blob in rows if article_id not in self._own]
        if fresh:
            ids = np.array([article_id for article_id, _ in fresh], dtype=np.int64)
            keys = np.stack([np.frombuffer(blob, dtype="<i8") for _, blob in fresh])
            self._index.add_many(ids, keys)
        if rows:
            self._refreshed_to = rows[-1][0]
        self._own.clear()
        return self._index

    def _band_stored_signatures(self) -> None:
        """Compute the band keys of stored signatures that have none (after the upgrade that
        changed how keys are made), so copies stored before it are still found."""
        while rows := self.store.unbanded_signatures():
            sigs = np.stack([signature_from_bytes(blob) for _, blob in rows])
            keys = band_matrix(sigs, self.config.similarity)
            self.store.set_bands(
                [
                    (article_id, pack_bands(k.tolist()))
                    for (article_id, _), k in zip(rows, keys, strict=True)
                ]
            )
            log.info("stories: computed the LSH band keys of %d stored articles", len(rows))

    def _in_window(self, candidate: StoryCandidate, when: datetime) -> bool:
        return abs(when - candidate.first_published) <= self.config.window

    # -- recording -------------------------------------------------------------------------------

    def _sighting(
        self, story_id: int, article_id: int, article: Article, placement: Placement
    ) -> bool:
        # A story that starts with this copy has no sources yet: nothing to look up.
        before = set() if placement.is_new else set(self.store.story_sources([story_id])[story_id])
        self.store.record_sighting(
            story_id, article_id, article, placement.how, placement.similarity
        )
        return article.source not in before

    def _prune_now_and_then(self, stored: int) -> None:
        self._until_prune -= stored
        if self._until_prune > 0:
            return
        self._until_prune = PRUNE_EVERY
        pruned = self.store.prune_signatures(self.clock() - 2 * self.config.window)
        if not pruned:
            return
        self._expected = None  # the copies looked up may have lost their signatures
        if self._index is not None:
            oldest = self.store.oldest_signature()
            self._index.forget_below(oldest if oldest is not None else self._refreshed_to + 1)
        log.info("stories: forgot the LSH bands of %d articles older than two windows", pruned)


_UNKNOWN = object()  # a key the batch's look-up did not cover


def _signature_row(fp: Fingerprint, bands: bytes | None) -> tuple[bytes, bytes] | None:
    """(signature, packed band keys) as stored, when the article has a signature."""
    if fp.signature is None or bands is None:
        return None
    return signature_bytes(fp.signature), bands
