"""One story, one alert: copies of one article across feeds share a story and alert once."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import LoopbackServer, rss, run_monitor, write_config
from stories import NEGATIVES, SWAP

from monitor.analysis import Analysis, Analyzer
from monitor.classify import Classifier
from monitor.config import FollowUpConfig, StoryConfig, load_config
from monitor.dedupe import fingerprint, similarity
from monitor.errors import ConfigError
from monitor.models import Article
from monitor.pipeline import Pipeline
from monitor.store import Store

FEEDS = ["wire-a", "wire-b", "amp-c", "mobile-d", "syndicated-e"]
CANONICAL = "https://news.example.org/world/2025/russia-us-prisoner-exchange"
EXTRA = (
    "The exchange was the third between the two countries in as many years. Families of other "
    "Americans detained in Russia urged the White House to keep negotiating for their release."
)
COPIES = {
    "wire-a": SWAP,
    "wire-b": {**SWAP, "link": CANONICAL + "?fbclid=IwAR0abc&utm_campaign=world&utm_medium=social"},
    "amp-c": {
        **SWAP,
        "link": "https://news.example.org/amp/world/2025/russia-us-prisoner-exchange",
    },
    "mobile-d": {
        **SWAP,
        "link": "https://m.news.example.org/world/2025/russia-us-prisoner-exchange/",
    },
    "syndicated-e": {
        "title": "American teacher freed as Moscow and Washington swap prisoners in Abu Dhabi",
        "link": "https://wire.example.com/2025/05/22/teacher-freed-in-swap",
        "description": SWAP["description"].replace("on Thursday", "on Thursday morning")
        + "\n\n"
        + EXTRA,
        "pubDate": "Thu, 22 May 2025 11:30:00 GMT",
    },
}
LATER_SWAP = {
    "title": "Russia and US complete second prisoner exchange brokered by UAE",
    "link": "https://news.example.org/world/2025/russia-us-second-prisoner-exchange",
    "description": SWAP["description"]
    .replace("An American teacher held in Moscow", "A US journalist held in Yekaterinburg")
    .replace("on Thursday", "on Monday"),
    "pubDate": "Mon, 24 Nov 2025 09:00:00 GMT",
}


def five_feed_config(tmp_path: Path, server: LoopbackServer, stories: str = "") -> Path:
    feeds = "\n".join(f"  - name: {n}\n    url: {server.url('/' + n + '.xml')}" for n in FEEDS)
    return write_config(
        tmp_path,
        f"""
feeds:
{feeds}
notifiers:
  - name: team-slack
    type: slack
    url: {server.url("/slack")}
  - name: ops
    type: webhook
    url: {server.url("/hook")}
{stories}
""",
    )


def serve(server: LoopbackServer, feeds: dict[str, list[dict[str, str]]]) -> None:
    for name in FEEDS:
        server.routes[f"/{name}.xml"] = rss(feeds.get(name, []))
    server.routes["/slack"] = server.routes["/hook"] = (200, {}, b"ok")


def story_row(db_path: Path, url: str) -> dict[str, object]:
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    row = db.execute(
        "SELECT v.* FROM story_sources v JOIN articles a ON a.story_id = v.story_id"
        " WHERE a.url = ?",
        [url],
    ).fetchone()
    return dict(row)


def matches_json(config: Path) -> list[dict[str, object]]:
    result = run_monitor("matches", "--format", "json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_one_swap_in_five_feeds_alerts_each_notifier_once_and_lists_the_others(tmp_path, server):
    config = five_feed_config(tmp_path, server)
    serve(server, {"wire-a": [COPIES["wire-a"], *NEGATIVES]})
    first = run_monitor("poll", "--once", "--config", str(config))
    serve(server, {name: [copy, *NEGATIVES] for name, copy in COPIES.items()})

    second = run_monitor(
        "poll", "--once", "--config", str(config)
    )  # a new process: state is in SQLite

    assert first.returncode == second.returncode == 0, second.stderr
    assert len(server.posts("/hook")) == 1
    assert len(server.posts("/slack")) == 1
    story = story_row(tmp_path / "monitor.db", CANONICAL)
    assert story["sources"] == 5
    assert story["copies"] == 3  # the canonical page, the mobile page, the syndicated copy
    assert set(str(story["reported_by"]).split(", ")) == set(FEEDS)
    rows = [r for r in matches_json(config) if r["url"] == CANONICAL]
    assert rows and all(r["source"] == "wire-a" for r in rows)
    assert all(sorted(r["also_reported_by"]) == sorted(FEEDS[1:]) for r in rows)
    assert not [r for r in matches_json(config) if r["url"] != CANONICAL]
    table = run_monitor("matches", "--format", "table", "--config", str(config), COLUMNS="250")
    assert "also reported by" in table.stdout
    assert all(name in table.stdout for name in FEEDS), table.stdout


def test_a_similar_swap_months_later_is_a_new_story_and_alerts(tmp_path, server):
    early, late = (fingerprint(_article(s)).signature for s in (SWAP, LATER_SWAP))
    assert early is not None and late is not None
    assert similarity(early, late) >= StoryConfig().similarity  # by text alone: one story
    config = five_feed_config(tmp_path, server)
    serve(server, {"wire-a": [SWAP], "wire-b": [LATER_SWAP]})

    result = run_monitor("poll", "--once", "--config", str(config))

    assert result.returncode == 0, result.stderr
    assert len(server.posts("/hook")) == 2
    assert len(server.posts("/slack")) == 2
    db = tmp_path / "monitor.db"
    assert story_row(db, CANONICAL)["story_id"] != story_row(db, LATER_SWAP["link"])["story_id"]


def test_unrelated_articles_never_share_a_story(tmp_path, server):
    boilerplate = (
        "Subscribe to read the full story. Our journalists report from more than forty countries"
        " every day, and subscribers get unlimited access to every article, newsletter and podcast"
        " we publish, on every device."
    )
    teasers = [
        {"title": t, "link": f"https://paywalled.example.org/{i}", "description": boilerplate}
        for i, t in enumerate(["Prisoner exchange talks stall", "Summit ends without a deal"])
    ]
    config = five_feed_config(tmp_path, server)
    serve(server, {"wire-a": [SWAP, *NEGATIVES, *teasers], "wire-b": [LATER_SWAP]})

    assert run_monitor("poll", "--once", "--config", str(config)).returncode == 0

    db = sqlite3.connect(tmp_path / "monitor.db")
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert articles == 7
    assert db.execute("SELECT count(DISTINCT story_id) FROM articles").fetchone()[0] == articles


# -- in-process: follow-ups and upgrades -------------------------------------------------------


def _article(item: dict[str, str], source: str = "wire-a") -> Article:
    from monitor.sources.feeds import parse_feed

    return parse_feed(rss([item]), source)[0]


def _pipeline(tmp_path: Path, follow_up: FollowUpConfig) -> Pipeline:
    config = load_config(
        write_config(
            tmp_path,
            "notifiers:\n  - name: ops\n    type: webhook\n    url: http://127.0.0.1:9/hook\n",
        )
    )
    store = Store(config.database)
    return Pipeline(
        store, Classifier(config.topics), config.notifiers, StoryConfig(follow_up=follow_up)
    )


def _alerts(pipeline: Pipeline) -> list[dict[str, object]]:
    rows = pipeline.store.db.execute("SELECT payload FROM alerts ORDER BY created_at, rowid")
    return [json.loads(r[0]) for r in rows]


def test_follow_ups_are_off_by_default(tmp_path):
    pipeline = _pipeline(tmp_path, FollowUpConfig())
    for name, copy in COPIES.items():
        pipeline.ingest([_article(copy, name)])

    assert [a["event"] for a in _alerts(pipeline)] == ["match"]


def test_follow_up_when_a_story_reaches_the_source_count(tmp_path):
    pipeline = _pipeline(tmp_path, FollowUpConfig(sources=3))
    for name, copy in COPIES.items():
        pipeline.ingest([_article(copy, name)])

    alerts = _alerts(pipeline)
    assert [a["event"] for a in alerts] == ["match", "story_update"]
    update = alerts[1]
    assert update["story"]["reason"] == "sources"
    assert update["story"]["sources"] == FEEDS[:3]
    assert update["story"]["alert"] == alerts[0]["id"] != update["id"]


def test_follow_up_when_a_later_copy_brings_a_new_topic(tmp_path):
    swap_only = (
        "Russia and the United States carried out a prisoner exchange in Abu Dhabi on Thursday,"
        " the Kremlin said. An American teacher held in Moscow was released in return for a"
        " Russian national jailed in the US. The teacher's family said they were overjoyed and"
        " thanked everyone who had campaigned for his release over the past three years."
    )
    talks = (
        " Foreign Minister Sergey Lavrov said the swap followed months of talks mediated by the"
        " United Arab Emirates, and the State Department thanked the Emirati envoy."
    )
    first = {**SWAP, "title": "Russia and US complete prisoner exchange", "description": swap_only}
    later = {**first, "link": "https://wire.example.com/x", "description": swap_only + talks}
    pipeline = _pipeline(tmp_path, FollowUpConfig(new_topic=True))

    pipeline.ingest([_article(first, "wire-a")])
    pipeline.ingest([_article(later, "wire-b")])

    alerts = _alerts(pipeline)
    assert [(a["event"], a["topics"]) for a in alerts] == [
        ("match", ["prisoner_swap"]),
        ("story_update", ["prisoner_swap", "diplomacy"]),
    ]
    assert alerts[1]["story"]["topics"] == ["diplomacy"]


def test_copies_delivered_together_join_one_story(tmp_path):
    """Articles analysed in a parse worker arrive with their fingerprints, and their exact
    keys are looked up for the whole batch at once: a copy must still find the story of one
    stored earlier in the same batch, and of one stored by an earlier batch."""
    pipeline = _pipeline(tmp_path, FollowUpConfig())
    analyzer = Analyzer.for_rules(pipeline.classifier._rules, pipeline.story_config.similarity)
    first = _article(SWAP, "wire-a")
    same_text = replace(first, url="https://other.example.net/teacher-freed", guid=None)
    batch = [first, replace(same_text, source="wire-b", title="Teacher freed in Abu Dhabi")]
    later = [
        replace(first, url="https://mirror.example.com/swap", source="wire-c"),  # same GUID
        replace(same_text, url=same_text.url + "-2", source="wire-d"),
    ]

    pipeline.ingest(batch, analyzer.analyze_all(batch))
    pipeline.ingest(later, analyzer.analyze_all(later))

    db = pipeline.store.db
    assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == 1
    sightings = db.execute("SELECT source, how FROM story_sightings ORDER BY id").fetchall()
    assert sightings == [
        ("wire-a", "first"),
        ("wire-b", "text"),
        ("wire-c", "guid"),
        ("wire-d", "text"),
    ]
    assert db.execute("SELECT sources FROM story_sources").fetchone()[0] == 4
    assert [a["event"] for a in _alerts(pipeline)] == ["match"]


def test_articles_stored_before_stories_each_become_a_story(tmp_path, monkeypatch):
    import monitor.store as store_module

    path = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)
    Store(path).close()
    old = sqlite3.connect(path)
    for i in range(3):
        old.execute(
            "INSERT INTO articles (url, title, source, fetched_at) VALUES (?, ?, 'old', ?)",
            [f"https://example.org/{i}", f"story {i}", datetime.now(UTC).isoformat()],
        )
    old.commit()
    old.close()
    monkeypatch.undo()

    store = Store(path)

    rows = store.db.execute(
        "SELECT a.url, s.key FROM articles a JOIN stories s ON s.id = a.story_id"
    )
    assert sorted(rows) == [(f"https://example.org/{i}",) * 2 for i in range(3)]
    assert store.db.execute("SELECT sum(sources) FROM story_sources").fetchone()[0] == 3


def test_a_bad_story_setting_is_a_config_error_naming_its_key(tmp_path):
    path = write_config(tmp_path, "stories:\n  window: soon\n  similarity: 1.5\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    message = str(caught.value)
    assert "stories.window" in message and "stories.similarity" in message


def _story_log(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """What the story tables say, with articles and stories named by URL instead of by id,
    and without the times of writing."""
    queries = {
        "articles": "SELECT a.url, a.title, a.source, a.published, a.summary, a.guid, s.key"
        " FROM articles a JOIN stories s ON s.id = a.story_id ORDER BY a.id",
        "stories": "SELECT s.key, s.title, s.first_published, f.url FROM stories s"
        " JOIN articles f ON f.id = s.first_article_id ORDER BY s.id",
        "keys": "SELECT k.key, s.key, a.url FROM story_keys k JOIN stories s ON s.id = k.story_id"
        " JOIN articles a ON a.id = k.article_id ORDER BY k.key",
        "signatures": "SELECT a.url, s.key, g.signature, g.bands FROM story_signatures g"
        " JOIN stories s ON s.id = g.story_id JOIN articles a ON a.id = g.article_id"
        " ORDER BY g.article_id",
        "sightings": "SELECT s.key, a.url, g.source, g.url, g.how, g.similarity"
        " FROM story_sightings g JOIN stories s ON s.id = g.story_id"
        " JOIN articles a ON a.id = g.article_id ORDER BY g.id",
        "matches": "SELECT a.url, m.topic, m.score, m.why FROM matches m"
        " JOIN articles a ON a.id = m.article_id ORDER BY m.id",
        "alerts": "SELECT l.id, l.notifier, a.url, l.topics FROM alerts l"
        " JOIN articles a ON a.id = l.article_id ORDER BY l.rowid",
    }
    return {name: store.conn.execute(sql).fetchall() for name, sql in queries.items()}


def _wire_story(rng: random.Random, number: int, source: str) -> Article:
    words = ["talks", "border", "harvest", "museum", "storm", "court", "league", "market"]
    words += [f"w{n}" for n in range(300)]
    return Article(
        url=f"https://{source}.example.org/news/{number}",
        title=f"Story {number} from {source}",
        source=source,
        summary=" ".join(rng.choice(words) for _ in range(60)),
        published=datetime(2025, 5, 22, 10, number % 60, tzinfo=UTC),
        guid=f"https://{source}.example.org/news/{number}",
    )


def test_new_stories_written_together_are_the_ones_written_one_at_a_time(tmp_path):
    """Articles with nothing stored to weigh them against start their stories in one write
    per batch (``Stories.open_story``); the log must be what placing and storing them one
    by one gives, near and exact copies within a batch and across the batches of one
    transaction included."""
    rng = random.Random(7)
    fresh = [_wire_story(rng, n, "wire-a") for n in range(8)]
    swap = _article(SWAP, "wire-a")
    near = replace(
        fresh[1],
        url="https://wire-a.example.org/news/1-update",
        guid=None,
        title="Story 1 from wire-a, updated",
        summary=fresh[1].summary + " Officials gave no further details on Thursday.",
    )
    # The same page under another spelling of its URL, with another text: one exact key.
    respelled = replace(_wire_story(rng, 9, "wire-a"), url="http://www.wire-a.example.org/news/0/")
    first = [*fresh[:4], swap, near, respelled, *fresh[4:]]
    second = [
        replace(swap, url="https://mirror.example.com/swap", source="wire-b"),  # same GUID
        replace(fresh[2], url="https://wire-b.example.org/copy-2", source="wire-b", guid=None),
        _wire_story(rng, 20, "wire-b"),
        replace(_wire_story(rng, 21, "wire-b"), summary="Too short to compare."),
        replace(fresh[3], source="wire-b"),  # the same page, seen at another source
        replace(_wire_story(rng, 22, "wire-b"), url="http://wire-a.example.org/news/5/"),
    ]
    third = [_wire_story(rng, 30, "wire-c"), _wire_story(rng, 31, "wire-c")]
    fourth = [replace(third[0], url="https://wire-d.example.org/30", source="wire-d", guid=None)]

    def log_of(path: Path, analysed: bool) -> dict[str, list[tuple[object, ...]]]:
        path.mkdir()
        pipeline = _pipeline(path, FollowUpConfig())
        analyzer = Analyzer.for_rules(pipeline.classifier._rules, pipeline.story_config.similarity)
        written: list[int] = []
        real = pipeline.store.insert_new_stories
        pipeline.store.insert_new_stories = lambda rows: written.append(len(rows)) or real(rows)  # type: ignore[method-assign]

        def given(batch: list[Article]) -> list[Analysis] | None:
            return analyzer.analyze_all(batch) if analysed else None

        pipeline.ingest(first, given(first))
        pipeline.ingest(second, given(second))
        pipeline.ingest_many([(third, given(third), None), (fourth, given(fourth), None)])
        assert (sum(written) >= 10) == analysed  # most articles went the batched way
        return _story_log(pipeline.store)

    logs = [log_of(tmp_path / "together", True), log_of(tmp_path / "one-by-one", False)]
    together, one_by_one = logs
    assert together == one_by_one
    hows = [row[4] for row in together["sightings"]]
    assert hows.count("near") == 1 and hows.count("guid") == 1 and hows.count("text") == 2
    assert hows.count("url") == 3
    assert [row[1] for row in together["alerts"]] == ["ops"]
