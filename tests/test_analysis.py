"""Classifying and fingerprinting in the parse workers, batched writes, and the band index.

The worker must reach exactly the verdict and fingerprint the writing process would have
reached itself, band keys stored by one process must be found by another, and a batch that
fails to store must not take its neighbours down with it."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sqlite3
from datetime import UTC, datetime

import numpy as np
import pytest
from conftest import rss
from stories import NEGATIVES, SWAP

from monitor import heap
from monitor.analysis import Analyzer
from monitor.batching import IngestBatcher
from monitor.classify import Classifier, default_rules
from monitor.config import StoryConfig
from monitor.dedupe import (
    NUM_PERM,
    SCHEME,
    BandIndex,
    band_keys,
    comparable_text,
    fingerprint,
    pack_bands,
    shingle_hashes,
    signatures,
    unpack_bands,
)
from monitor.models import Article
from monitor.pipeline import Pipeline
from monitor.sources.errors import SourceError
from monitor.sources.feeds import JOBS_PER_WORKER, ParsePool, parse_feed
from monitor.sources.workers import WORKER_NICENESS
from monitor.store import Store
from monitor.stories import Stories

SIMILARITY = StoryConfig().similarity


def _feed() -> bytes:
    items = [SWAP, *NEGATIVES]
    # Big enough to go to a worker process rather than a thread.
    padding = " ".join(["Officials gave no further details."] * 400)
    return rss([{**item, "description": item["description"] + " " + padding} for item in items])


def _collector_settings() -> tuple[tuple[int, int, int], int]:
    import gc

    return gc.get_threshold(), gc.get_freeze_count()


def test_a_parse_worker_reaches_the_verdict_and_fingerprint_this_process_would():
    analyzer = Analyzer.for_rules(default_rules(), SIMILARITY)
    pool = ParsePool(workers=1, inline_below=0)

    async def parse() -> tuple[list[Article], list]:  # type: ignore[type-arg]
        parsed = await pool.parse(_feed(), "wire", "https://example.org/feed", analyzer)
        assert parsed.analyses is not None
        return parsed.articles, parsed.analyses

    try:
        articles, analyses = asyncio.run(parse())
        # What the worker has loaded: the parsers and the classifier, not the HTTP client
        # or the event loop, which only the writing process uses.
        loaded = pool._pool().submit(eval, "sorted(__import__('sys').modules)").result()
        # ... and it yields the CPU to the process that fetches, stores and alerts, with its
        # imports frozen out of the garbage collector's way.
        niceness = pool._pool().submit(os.nice, 0).result()
        collector = pool._pool().submit(_collector_settings).result()
    finally:
        pool.close()

    assert {"monitor.sources.parse", "monitor.analysis", "fastfeedparser"} <= set(loaded)
    assert not {"httpx", "monitor.sources.feeds", "scrapy", "twisted"} & set(loaded)
    assert niceness == min(19, os.nice(0) + WORKER_NICENESS) and WORKER_NICENESS > 0
    assert collector[0] == heap.THRESHOLDS and collector[1] > 10_000
    classifier = Classifier(default_rules())
    assert len(analyses) == len(articles) == 1 + len(NEGATIVES)
    assert "prisoner_swap" in analyses[0].classification.topics
    for article, there in zip(articles, analyses, strict=True):
        here = classifier.classify(article.title, article.body)
        assert there.classification.topics == here.topics
        for topic in here.topics:
            assert there.classification.scores[topic] == here.scores[topic]
            assert there.classification.why[topic] == here.why[topic]
        if here.topics:
            assert there.classification.entities == here.entities
        local = fingerprint(article)
        assert there.fingerprint.exact_keys == local.exact_keys
        assert local.signature is not None and there.fingerprint.signature is not None
        assert np.array_equal(there.fingerprint.signature, local.signature)
        assert there.bands is not None
        assert unpack_bands(there.bands) == band_keys(local.signature, SIMILARITY)


def test_documents_that_wait_for_a_worker_go_together_and_each_keeps_its_own_outcome():
    """Documents arriving while the workers are busy go to them several to a job; a broken
    one among them fails alone, with its own reason, and the others are read in full."""
    analyzer = Analyzer.for_rules(default_rules(), SIMILARITY)
    good = [
        rss([{**item, "title": f"{item['title']} ({n})"} for item in [SWAP, *NEGATIVES]])
        for n in range(10)
    ]
    broken = {
        4: (
            b"<!DOCTYPE html><html><body>" + b"<p>moved</p>" * 2000 + b"</body></html>",
            "not_feed",
        ),
        7: (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + b"<rss>"
            + b" " * 20000
            + b"&x;</rss>",
            "unsafe_xml",
        ),
    }
    documents = [broken[n][0] if n in broken else good[n] for n in range(10)]
    pool = ParsePool(workers=1, inline_below=0)

    async def parse_all() -> list[object]:
        return await asyncio.gather(
            *[
                pool.parse(d, f"feed{n}", f"https://example.org/{n}", analyzer)
                for n, d in enumerate(documents)
            ],
            return_exceptions=True,
        )

    try:
        outcomes = asyncio.run(parse_all())
    finally:
        pool.close()

    assert pool.jobs < len(documents)  # some went to the worker together
    for n, outcome in enumerate(outcomes):
        if n in broken:
            assert isinstance(outcome, SourceError) and outcome.kind == broken[n][1]
            continue
        assert not isinstance(outcome, BaseException), outcome
        expected = parse_feed(documents[n], f"feed{n}", f"https://example.org/{n}")
        assert [a.title for a in outcome.articles] == [a.title for a in expected]
        assert outcome.analyses is not None and len(outcome.analyses) == len(expected)
        assert "prisoner_swap" in outcome.analyses[0].classification.topics


def test_a_parse_worker_killed_mid_document_fails_that_document_and_a_fresh_one_reads_on():
    """The kernel's OOM killer (or an operator) ends a worker while it parses: that document
    fails as a parse error recorded on its feed, and the next document is read by a new
    worker rather than failing too."""
    analyzer = Analyzer.for_rules(default_rules(), SIMILARITY)
    big = rss([{**SWAP, "link": f"{SWAP['link']}?n={n}"} for n in range(3000)])
    pool = ParsePool(workers=1, inline_below=0)

    async def run() -> tuple[BaseException | None, int]:
        doomed = asyncio.ensure_future(pool.parse(big, "big", "https://example.org/big", analyzer))
        while pool._executor is None or not pool._executor._processes:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the worker is reading the document by now
        for pid in list(pool._executor._processes):
            os.kill(pid, signal.SIGKILL)
        failure = (await asyncio.gather(doomed, return_exceptions=True))[0]
        after = await pool.parse(_feed(), "wire", "https://example.org/feed", analyzer)
        return failure if isinstance(failure, BaseException) else None, len(after.articles)

    try:
        failure, read_after = asyncio.run(run())
    finally:
        pool.close()

    assert isinstance(failure, SourceError) and failure.kind == "parse", failure
    assert "died" in str(failure)
    assert read_after == 1 + len(NEGATIVES)


def test_documents_waiting_for_a_worker_fail_cleanly_when_none_can_be_started(monkeypatch):
    """Once no worker can be started any more (no room for another process), the documents
    that were waiting for one fail as parse errors, recorded on their feeds: none is left
    waiting for ever, and those already sent are read."""
    pool = ParsePool(workers=1, inline_below=0)
    real_pool, calls = pool._pool, []

    def pool_until_full() -> object:
        calls.append(1)
        if len(calls) > JOBS_PER_WORKER:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        return real_pool()

    monkeypatch.setattr(pool, "_pool", pool_until_full)

    async def run() -> list[object]:
        polls = [pool.parse(_feed(), f"feed{n}", "https://example.org/feed") for n in range(10)]
        return await asyncio.wait_for(asyncio.gather(*polls, return_exceptions=True), 60)

    try:
        outcomes = asyncio.run(run())
    finally:
        pool.close()

    read = outcomes[:JOBS_PER_WORKER]
    assert all(not isinstance(o, BaseException) for o in read), read
    failed = outcomes[JOBS_PER_WORKER:]
    assert all(isinstance(o, SourceError) and o.kind == "parse" for o in failed), failed
    assert all("Resource temporarily unavailable" in str(o) for o in failed)


@pytest.mark.parametrize("size", [None, 2, 60])  # 60: longer than some of the texts
def test_signatures_are_datasketch_minhash_values(size):
    """Signatures made in one numpy pass equal datasketch's MinHash, text by text."""
    from datasketch import MinHash

    texts = [comparable_text(parse_feed(rss([item]), "x")[0]) for item in [SWAP, *NEGATIVES]]
    assert size != 60 or min(map(len, texts)) < size < max(map(len, texts))
    ours = signatures(texts, size)
    for tokens, sig in zip(texts, ours, strict=True):
        reference = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME, hashfunc=int)
        reference.update_batch(shingle_hashes(tokens, size).tolist())
        assert sig is not None
        assert np.array_equal(sig, np.asarray(reference.hashvalues, dtype=np.uint32))
    assert signatures([["too", "short"]]) == [None]


def test_band_index_ranks_by_shared_keys_and_forgets_old_articles():
    index = BandIndex()
    index.add(1, [10, 11, 12])
    index.add(2, [10, 13])
    index.add_many(np.array([3, 4]), np.array([[10, 11], [20, 21]]))

    assert index.shared([10, 11, 12]) == [1, 3, 2]
    assert index.shared([21, 99]) == [4]
    assert index.shared([99]) == []
    assert len(index) == 9

    index.forget_below(3)
    assert index.shared([10, 11, 12, 21]) == [3, 4]


def test_band_index_answers_a_batch_searched_at_once_as_it_would_one_by_one():
    """``expect`` searches the merged keys for a feed's articles in one pass; ``shared`` must
    then answer exactly as a search of its own would, also for keys added since (which are
    not merged yet) and after a merge, which outdates the batch's search."""
    rng = np.random.default_rng(6)
    keys = rng.integers(-(2**62), 2**62, size=(2_000, 8))
    index = BandIndex()
    index.add_many(np.arange(2_000), keys)
    batch = [
        keys[5].tolist(),  # a stored article's keys
        [*keys[6, :4].tolist(), *keys[7, 4:].tolist()],  # half from each of two
        [*keys[6, :2].tolist(), 1, 2, 3, 4, 5, 6],
        rng.integers(-(2**62), 2**62, size=8).tolist(),  # nothing in common
    ]
    reference = BandIndex()
    reference.add_many(np.arange(2_000), keys)
    index.expect([pack_bands(keys) for keys in batch])

    for article_id, query in enumerate(batch, start=10_000):
        assert index.shared(query) == reference.shared(query)
        index.add(article_id, query)  # recent keys: the next queries find them too
        reference.add(article_id, query)
    assert index.shared(batch[2]) == [10_002, 10_001, 6] == reference.shared(batch[2])

    index.expect([pack_bands(keys) for keys in batch])
    index.add_many(np.array([20_000]), np.array([batch[0]]))  # a merge: the search is outdated
    reference.add_many(np.array([20_000]), np.array([batch[0]]))
    assert index.shared(batch[0]) == reference.shared(batch[0]) == [20_000, 10_000, 5]


def test_band_index_runs_answer_as_a_plain_map_of_keys_would(monkeypatch):
    """Keys added one article at a time, in bulk and as a searched batch, merged into runs,
    pruned, and past the Bloom filter's size, must be found as a dict of key -> ids finds
    them."""
    monkeypatch.setattr(BandIndex, "FILTER_KEYS", 64)  # the filter grows several times
    rng = np.random.default_rng(11)
    index, reference = BandIndex(), {}
    next_id = 1

    def remember(article_id: int, keys: list[int]) -> None:
        for key in keys:
            reference.setdefault(key, []).append(article_id)

    for step in range(300):
        keys = rng.integers(0, 20_000, size=(int(rng.integers(1, 12)), 6))  # some shared
        ids = list(range(next_id, next_id + len(keys)))
        next_id += len(keys)
        if step % 3 == 0:
            for article_id, row in zip(ids, keys.tolist(), strict=True):
                index.add(article_id, row)
                remember(article_id, row)
        elif step % 3 == 1:
            index.add_many(np.array(ids), keys)
            for article_id, row in zip(ids, keys.tolist(), strict=True):
                remember(article_id, row)
        else:
            packed = [pack_bands(row) for row in keys.tolist()]
            index.expect(packed)
            index.add_expected(ids, packed)
            for article_id, row in zip(ids, keys.tolist(), strict=True):
                remember(article_id, row)
        if step == 30:
            index.forget_below(next_id // 2)
            reference = {
                key: kept
                for key, owners in reference.items()
                if (kept := [i for i in owners if i >= next_id // 2])
            }
            assert all(index.shares_any(pack_bands([key])) for key in list(reference)[:200])
    assert len(index) == sum(map(len, reference.values()))
    stored = sorted(reference)
    for n in range(300):
        query = rng.integers(0, 20_000, size=6).tolist()
        if n % 2:  # a key stored in one structure or another
            query[0] = stored[int(rng.integers(len(stored)))]
        counts: dict[int, int] = {}
        for key in query:
            for article_id in reference.get(key, []):
                counts[article_id] = counts.get(article_id, 0) + 1
        ranked = sorted(counts.items(), key=lambda item: (-item[1], -item[0]))
        assert index.shared(query) == [article_id for article_id, _ in ranked[:50]]
        assert index.shares_any(pack_bands(query)) == bool(counts)


def test_a_batch_searched_at_once_counts_the_articles_before_each_one():
    """``expect`` answers for each article of a batch whether anything stored, or an article
    before it in the batch, has one of its keys: the first copy of a story in a batch is new,
    the second is not."""
    index = BandIndex()
    index.add_many(np.array([1]), np.array([[100, 101]]))
    batch = [[1, 2], [3, 4], [5, 2], [6, 101], [7, 8]]

    packed = [pack_bands(keys) for keys in batch]
    index.expect(packed)

    assert [index.shares_any(keys) for keys in packed] == [False, False, True, True, False]
    index.add_expected([10, 11, 12, 13, 14], packed)
    assert index.shared([2]) == [12, 10]
    assert index.shares_any(pack_bands([8])) and not index.shares_any(pack_bands([9]))


def test_a_near_copy_stored_by_another_process_is_found(tmp_path):
    """Band keys live in SQLite: a second writer's in-memory index catches up with them."""
    path = tmp_path / "shared.db"
    first, second = Stories(Store(path), StoryConfig()), Stories(Store(path), StoryConfig())
    second.refresh()  # loaded before the first process stores anything

    original = Article(url="https://a.example/swap", title="Swap", source="a", text=_SWAP_TEXT)
    with first.store.atomic():
        first.refresh()
        placement = first.place(original)
        article_id = first.store.insert_article(original, story_id=placement.story_id)
        assert article_id is not None
        first.remember(article_id, original, placement)

    copy = Article(
        url="https://b.example/other-url",
        title="Prisoners swapped",
        source="b",
        text=_SWAP_TEXT + " The families thanked the mediators.",
    )
    with second.store.atomic():
        second.refresh()
        found = second.place(copy)

    assert found.how == "near"
    assert found.story_id == placement.story_id


_SWAP_TEXT = SWAP["description"]


def test_band_keys_of_an_older_database_are_recomputed(tmp_path, monkeypatch):
    """The upgrade that moved band keys into memory drops ``story_bands`` and recomputes the
    keys from stored signatures, so copies stored before it are still found."""
    import monitor.store as store_module

    path = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 5)
    old = Stories(Store(path), StoryConfig())
    original = Article(url="https://a.example/swap", title="Swap", source="a", text=_SWAP_TEXT)
    with old.store.atomic():
        placement = old.place(original)
        article_id = old.store.insert_article(original, story_id=placement.story_id)
        assert article_id is not None
        old.remember(article_id, original, placement)
    old.store.close()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE story_bands (band INTEGER, article_id INTEGER)")
    db.execute("UPDATE story_signatures SET bands = randomblob(232)")  # keys of the old hash
    db.commit()
    db.close()
    monkeypatch.undo()

    upgraded = Stories(Store(path), StoryConfig())
    tables = {r[0] for r in upgraded.store.db.execute("SELECT name FROM sqlite_master")}
    assert "story_bands" not in tables
    copy = Article(
        url="https://b.example/copy", title="Swap", source="b", text=_SWAP_TEXT + " More."
    )
    with upgraded.store.atomic():
        upgraded.refresh()
        found = upgraded.place(copy)

    assert (found.how, found.story_id) == ("near", placement.story_id)


def _pipeline(tmp_path) -> Pipeline:  # type: ignore[no-untyped-def]
    return Pipeline(Store(tmp_path / "log.db"), Classifier(default_rules()), [])


def _articles(source: str, count: int) -> list[Article]:
    return [
        Article(
            url=f"https://{source}.example/{n}",
            title=f"Story {n} from {source}",
            source=source,
            summary=f"Local council news number {n} from {source}.",
            published=datetime(2025, 5, 22, tzinfo=UTC),
        )
        for n in range(count)
    ]


def test_one_failing_batch_is_rolled_back_alone(tmp_path):
    pipeline = _pipeline(tmp_path)
    # Its first article is stored before the second fails: the savepoint takes both back.
    broken = [*_articles("broken", 1), Article(url=None, title="no url", source="broken")]  # type: ignore[arg-type]

    reports = pipeline.ingest_many(
        [
            (_articles("good", 3), None, None),
            (broken, None, None),
            (_articles("also-good", 2), None, None),
        ]
    )

    assert [getattr(r, "new", None) for r in reports] == [3, None, 2]
    assert isinstance(reports[1], Exception)
    stored = pipeline.store.db.execute("SELECT source, count(*) FROM articles GROUP BY source")
    assert dict(stored.fetchall()) == {"good": 3, "also-good": 2}
    # The full-text index holds what was stored, and nothing of what was rolled back.
    assert _searched(pipeline.store, "council") == {"good": 3, "also-good": 2}
    pipeline.store.db.execute(
        "INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)"
    )


def _searched(store: Store, words: str) -> dict[str, int]:
    """Articles per source that full-text search finds."""
    rows = store.db.execute(
        "SELECT a.source, count(*) FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
        " WHERE articles_fts MATCH ? GROUP BY a.source",
        [words],
    )
    return dict(rows.fetchall())


def test_articles_stored_before_and_after_the_fts_upgrade_are_all_searchable(tmp_path):
    path = tmp_path / "log.db"
    pipeline = Pipeline(Store(path), Classifier(default_rules()), [])
    pipeline.ingest(_articles("early", 2))
    pipeline.store.close()
    # The database as version 6 left it: a trigger indexed every row as it was stored.
    db = sqlite3.connect(path)
    db.execute(
        'CREATE TRIGGER "articles_ai" AFTER INSERT ON "articles" BEGIN INSERT INTO "articles_fts"'
        ' (rowid, "title", "summary", "text") VALUES (new.rowid, new."title", new."summary",'
        ' new."text"); END'
    )
    db.execute("PRAGMA user_version = 6")
    db.commit()
    db.close()

    upgraded = Pipeline(Store(path), Classifier(default_rules()), [])
    upgraded.ingest_many([(_articles("late", 3), None, None)])
    upgraded.store.insert_article(_articles("alone", 1)[0])  # outside any transaction

    assert _searched(upgraded.store, "council") == {"early": 2, "late": 3, "alone": 1}
    upgraded.store.db.execute(
        "INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)"
    )


def _counted_batcher(pipeline: Pipeline, **options: float) -> tuple[IngestBatcher, list[int]]:
    """A batcher over the pipeline, and the number of deliveries in each write it makes."""
    writes: list[int] = []

    def ingest_many(batches):  # type: ignore[no-untyped-def]
        writes.append(len(batches))
        return pipeline.ingest_many(batches)

    return IngestBatcher(ingest_many, **options), writes  # type: ignore[arg-type]


def test_deliveries_in_one_turn_of_the_loop_share_one_write(tmp_path):
    pipeline = _pipeline(tmp_path)
    batcher, writes = _counted_batcher(pipeline, max_articles=10)

    async def deliver() -> list[int]:
        feeds = [_articles(f"feed{n}", 4) for n in range(5)]
        reports = await asyncio.gather(*(batcher.ingest(a) for a in feeds))
        return [r.new for r in reports]

    assert asyncio.run(deliver()) == [4] * 5
    # 20 articles, at most 10 a write (a batch is never split): 3 + 2 feeds.
    assert writes == [3, 2]
    assert pipeline.store.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 20


def test_deliveries_that_land_while_the_first_lingers_share_its_write(tmp_path):
    batcher, writes = _counted_batcher(_pipeline(tmp_path), linger=0.5)

    async def deliver() -> list[int]:
        async def feed(n: int) -> int:
            await asyncio.sleep(0.01 * n)  # each in a later turn of the loop than the last
            return (await batcher.ingest(_articles(f"feed{n}", 2))).new

        together = await asyncio.gather(*(feed(n) for n in range(3)))
        alone = await feed(0)  # a lone delivery is stored too, once the linger is over
        return [*together, alone]

    assert asyncio.run(deliver()) == [2, 2, 2, 0]  # the last one's articles were stored already
    assert writes == [3, 1]


def test_a_failed_delivery_raises_for_its_own_source_only(tmp_path):
    pipeline = _pipeline(tmp_path)
    batcher = IngestBatcher(pipeline.ingest_many)
    broken = [Article(url=None, title="no url", source="broken")]  # type: ignore[arg-type]

    async def deliver() -> list[object]:
        return await asyncio.gather(
            batcher.ingest(_articles("good", 2)), batcher.ingest(broken), return_exceptions=True
        )

    good, bad = asyncio.run(deliver())
    assert getattr(good, "new", None) == 2
    assert isinstance(bad, Exception)


def test_a_feed_whose_items_are_all_too_short_to_compare_is_analysed():
    analyzer = Analyzer.for_rules(default_rules(), SIMILARITY)
    short = [Article(url=f"https://example.org/{n}", title="Brief", source="x") for n in range(3)]
    analyses = analyzer.analyze_all(short)
    assert [(a.fingerprint.signature, a.bands) for a in analyses] == [(None, None)] * 3


@pytest.mark.parametrize("similarity", [0.3, 0.45, 0.8])
def test_band_keys_agree_however_many_signatures_are_banded_at_once(similarity):
    texts = [comparable_text(parse_feed(rss([item]), "x")[0]) for item in [SWAP, *NEGATIVES]]
    sigs = [s for s in signatures(texts) if s is not None]
    analyzer = Analyzer.for_rules(default_rules(), similarity)
    articles = [parse_feed(rss([item]), "x")[0] for item in [SWAP, *NEGATIVES]]
    together = [a.bands for a in analyzer.analyze_all(articles)]
    alone = [band_keys(s, similarity) for s in sigs]
    assert [unpack_bands(b) for b in together if b is not None] == alone


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.45, 0.6, 0.75, 0.9])
def test_lsh_parameters_are_the_ones_datasketch_picks(threshold):
    from datasketch import MinHash, MinHashLSH

    from monitor.dedupe import LSH_WEIGHTS, _permutations, lsh_params

    index = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=LSH_WEIGHTS)
    assert lsh_params(threshold) == (index.b, index.r)
    a, b = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME).permutations
    assert all(np.array_equal(x, y) for x, y in zip((a, b), _permutations(), strict=True))
