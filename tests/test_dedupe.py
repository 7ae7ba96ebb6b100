"""Exact and near duplicates: canonical URLs, rel=canonical, GUIDs, text hashes, MinHash."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import REPO
from stories import SWAP

from monitor.config import StoryConfig
from monitor.dedupe import (
    band_keys,
    fingerprint,
    guid_key,
    signature,
    signature_bytes,
    similarity,
    words,
)
from monitor.models import Article
from monitor.normalize import (
    _canonical_in_full,
    _identity_in_full,
    _plain,
    canonical_url,
    page_canonical_url,
    url_identity,
)
from monitor.store import Store
from monitor.stories import Stories

ARTICLE = "https://www.example.org/world/2025/swap"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.example.org/world/2025/swap?utm_source=rss&utm_medium=feed",
        "https://www.example.org/world/2025/swap?fbclid=IwAR0&gclid=x#comments",
        "https://WWW.Example.org/amp/world/2025/swap",
        "https://www.example.org/world/2025/swap/amp",
        "https://www.example.org/world/2025/swap?amp=1",
        "https://www.example.org/world/2025/swap?outputType=amp",
        "https://amp.example.org/world/2025/swap",
        "https://m.example.org/world/2025/swap",
        "https://mobile.example.org/world/2025/swap/",
        "http://example.org/world/2025/swap",
        "https://www-example-org.cdn.ampproject.org/c/s/www.example.org/world/2025/swap",
        "https://www.google.com/amp/s/www.example.org/world/2025/swap",
    ],
)
def test_copies_of_one_page_have_one_identity(url):
    assert url_identity(canonical_url(url)) == url_identity(ARTICLE)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.example.org/world/2025/swap-2",
        "https://www.example.org/world/2025/swap?id=2",
        "https://www.example.org/camp/amplifier",
        "https://news.example.org/world/2025/swap",
        "https://m.co/world/2025/swap",
    ],
)
def test_different_pages_keep_different_identities(url):
    assert url_identity(canonical_url(url)) != url_identity(ARTICLE)


def test_amp_article_name_is_mapped_to_the_page_it_copies():
    assert (
        canonical_url("https://example.org/news/swap.amp.html")
        == "https://example.org/news/swap.html"
    )
    assert canonical_url("https://example.org/news/swap.amp") == "https://example.org/news/swap"


def test_links_taken_as_they_are_are_what_the_full_steps_give():
    """``canonical_url`` returns plain links untouched without running courlan and w3lib:
    for every link it takes that way, the full steps must agree (and ``url_identity`` cuts
    such a link up without parsing it: it must agree with the parsed parts on every link). Random links built from
    the characters and parts (AMP, mobile hosts, dot segments, escapes) that change a URL."""
    rng = random.Random(6)
    hosts = [
        "example.org",
        "www.example.org",
        "m.example.org",
        "mobile.example.org",
        "amp.example.org",
        "Example.org",
        "127.0.0.1",
        "localhost",
        "a-b.co.uk",
        "example.org.",
        "www-example-org.cdn.ampproject.org",
        "www.google.com",
        "m.co",
    ]
    parts = [
        "amp",
        "AMP",
        "x.amp",
        "y.amp.html",
        "camp",
        "a",
        "2025",
        "index.html",
        ".amp",
        ".",
        "..",
        "",
        "s",
        "c",
        "a b",
        "%41",
        "b?q=1",
        "c#f",
        "~u",
        "é",
    ]
    taken = 0
    for _ in range(20_000):
        path = "/".join(rng.choice(parts) for _ in range(rng.randrange(5)))
        url = f"{rng.choice(['http', 'https', 'HTTP'])}://{rng.choice(hosts)}/{path}"
        assert url_identity(url) == _identity_in_full(url)
        if _plain(url):
            taken += 1
            assert _canonical_in_full(url) == url
            assert canonical_url(url) == url
    assert taken > 1_000  # the check above ran on a fair share of them

    assert _plain("https://www.example.org/world/2025/05/swap-deal.html")
    assert not _plain("https://www.example.org/world/2025/swap/amp")
    assert canonical_url("https://www.example.org/world/2025/swap/amp") == (
        "https://www.example.org/world/2025/swap"
    )


def test_links_in_the_corpora_taken_as_they_are_are_what_the_full_steps_give(shared_dir):
    urls: set[str] = set()
    for path in (shared_dir / "corpora").rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            urls.update(re.findall(r"https?://[^\s\"<>'\[\]{}|\\^`]+", text))
    plain = [url for url in urls if _plain(url)]

    assert len(plain) > len(urls) / 2
    assert [url for url in plain if _canonical_in_full(url) != url] == []
    assert [url for url in urls if url_identity(url) != _identity_in_full(url)] == []


def test_rel_canonical_of_a_fetched_page_names_the_article():
    html = (
        '<html><head><link rel="stylesheet" href="/a.css">'
        '<link rel="canonical" href="/world/2025/swap?utm_source=amp"></head>'
        '<body><link rel="canonical" href="/elsewhere"></body></html>'
    )

    assert page_canonical_url(html, "https://m.example.org/amp/world/2025/swap") == (
        "https://example.org/world/2025/swap"
    )


@pytest.mark.parametrize(
    "html",
    [
        "<html><head><title>no canonical</title></head></html>",
        '<link rel="canonical" href="https://example.org/">',  # a site's home page: a misconfiguration
        '<link rel="canonical" href="javascript:alert(1)">',
        '<link rel="canonical" href="">',
        "<link rel=canonical href=<<<",
    ],
)
def test_useless_rel_canonical_is_ignored(html):
    assert page_canonical_url(html, "https://example.org/world/2025/swap") is None


def test_guids_are_global_only_when_they_look_unique():
    assert guid_key("https://example.org/a?utm_source=x", "feed") == "guid:example.org/a"
    assert guid_key("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "feed").startswith("guid:urn")
    assert guid_key("12345", "feed-a") != guid_key("12345", "feed-b")
    assert guid_key("", "feed") is None


def _article(text: str, title: str = "A title", url: str = ARTICLE, **kw: object) -> Article:
    return Article(url=url, title=title, source=str(kw.pop("source", "wire")), text=text, **kw)  # type: ignore[arg-type]


def test_same_text_under_another_headline_has_the_same_text_key():
    a = fingerprint(_article(SWAP["description"], "Russia and US swap prisoners"))
    b = fingerprint(_article(SWAP["description"], "Teacher freed in Abu Dhabi exchange"))

    assert a.text_key is not None and a.text_key == b.text_key


def test_text_too_short_to_compare_gets_no_text_key_or_signature():
    fp = fingerprint(_article("Read more on our website.", "Short"))

    assert fp.text_key is None and fp.signature is None


def test_extended_copy_is_near_and_an_unrelated_story_is_far():
    base = words(SWAP["description"])
    extended = base + words("The exchange was the third between the two countries in three years.")
    unrelated = words(
        "Forecasters warned of flooding along the coast as a storm brought heavy rain and gusts"
        " of ninety kilometres an hour to the region on Wednesday, closing schools and roads."
    )
    sig, ext, other = (signature(t) for t in (base, extended, unrelated))
    assert sig is not None and ext is not None and other is not None

    assert similarity(sig, ext) >= StoryConfig().similarity
    assert similarity(sig, other) < 0.1
    threshold = StoryConfig().similarity
    assert set(band_keys(sig, threshold)) & set(band_keys(ext, threshold))


def test_signatures_are_the_same_in_another_process():
    """Signatures are stored and compared across restarts, so hashing must not be per-process."""
    here = signature(words(SWAP["description"]))
    assert here is not None
    code = (
        "from monitor.dedupe import signature, signature_bytes, words;"
        "import sys; sys.stdout.write(signature_bytes(signature(words(sys.argv[1]))).hex())"
    )
    there = subprocess.run(
        [sys.executable, "-c", code, SWAP["description"]],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PYTHONHASHSEED": "12345"},
        check=True,
    ).stdout

    assert there == signature_bytes(here).hex()


# -- placing articles in stories -------------------------------------------------------------


@pytest.fixture
def stories(tmp_path):
    store = Store(tmp_path / "stories.db")
    yield Stories(store, StoryConfig())
    store.close()


def _store(stories: Stories, article: Article) -> int:
    placement = stories.place(article)
    article_id = stories.store.insert_article(article, story_id=placement.story_id)
    assert article_id is not None
    stories.remember(article_id, article, placement)
    return placement.story_id


WHEN = datetime(2025, 5, 22, 10, tzinfo=UTC)


def test_a_guid_reused_for_different_texts_does_not_merge_them(stories):
    first = _article(SWAP["description"], guid="1", source="broken", published=WHEN)
    other = _article(
        "Forecasters warned of flooding along the coast as a storm brought heavy rain and gusts"
        " of ninety kilometres an hour to the region on Wednesday, closing schools and roads.",
        url="https://example.org/storm",
        guid="1",
        source="broken",
        published=WHEN,
    )

    assert _store(stories, first) != _store(stories, other)


def test_a_guid_shared_by_a_moved_article_keeps_it_in_its_story(stories):
    first = _article(SWAP["description"], guid="tag:example.org,2025:swap", published=WHEN)
    moved = _article(
        SWAP["description"] + " Updated with comment from the White House.",
        url="https://example.org/world/2025/swap-updated",
        guid="tag:example.org,2025:swap",
        published=WHEN,
    )

    assert _store(stories, first) == _store(stories, moved)


def test_one_source_repeating_a_summary_under_different_headlines_stays_apart(stories):
    summary = (
        "Subscribe to read the full story. Our journalists report from more than forty countries"
        " every day, and subscribers get unlimited access to every article and newsletter."
    )
    a = _article(summary, "Prisoner exchange talks stall", url="https://p.example.org/1")
    b = _article(summary, "Summit ends without a deal", url="https://p.example.org/2")

    assert _store(stories, a) != _store(stories, b)


def test_a_near_copy_outside_the_window_starts_a_new_story(stories):
    first = _article(SWAP["description"], published=WHEN, source="a")
    later = _article(
        SWAP["description"] + " It was the second such exchange.",
        url="https://other.example.org/swap",
        published=WHEN + StoryConfig().window + timedelta(hours=1),
        source="b",
    )
    inside = _article(
        SWAP["description"] + " Officials confirmed the details.",
        url="https://third.example.org/swap",
        published=WHEN + StoryConfig().window - timedelta(hours=1),
        source="c",
    )

    story = _store(stories, first)
    assert _store(stories, later) != story
    assert _store(stories, inside) == story


def test_old_lsh_bands_are_pruned_but_the_story_stays(stories):
    old = _article(SWAP["description"], published=WHEN, source="a")
    story = _store(stories, old)
    store = stories.store
    store.db.execute("UPDATE story_signatures SET stored_at = '2000-01-01T00:00:00+00:00'")

    assert store.prune_signatures(datetime.now(UTC) - timedelta(days=6)) == 1
    assert store.db.execute("SELECT count(*) FROM story_signatures").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM stories WHERE id = ?", [story]).fetchone()[0] == 1
