"""Sitemap reading (pure) over crawler-commons' real fixtures: news dates, indexes, gzip, robots."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.sources.sitemaps import SitemapEntry, parse_sitemap, recent, sitemaps_in_robots

FIXTURES = "corpora/crawler-commons-sitemaps/src/test/resources"


def test_news_sitemap_entries_carry_publication_date_title_and_language(shared_dir):
    body = (
        shared_dir / FIXTURES / "sitemaps/extension/shinpaideshou-news-sitemap.xml"
    ).read_bytes()

    sitemap = parse_sitemap(body)

    assert sitemap is not None and sitemap.kind == "urlset" and len(sitemap.entries) == 3
    first = sitemap.entries[0]
    assert first.loc.endswith("/job-opening-reischauer-policy-research-fellow/")
    assert first.published == datetime(2017, 4, 25, 10, 0, 36, tzinfo=UTC)
    assert first.title == "Job Opening: Reischauer Policy Research Fellow"
    assert first.language == "en"


def test_image_and_video_fields_do_not_pass_for_news_fields(shared_dir):
    body = (
        shared_dir / FIXTURES / "sitemaps/extension/hebdenbridgetimes-articles-sitemap.xml"
    ).read_bytes()

    sitemap = parse_sitemap(body)

    assert sitemap is not None and len(sitemap.entries) == 74
    entry = sitemap.entries[0]
    assert entry.published is None and entry.title is None  # those were a video's
    assert entry.lastmod == datetime(2015, 5, 3, 17, 51, 50, tzinfo=UTC)


def test_sitemap_index_and_gzipped_sitemap_are_read(shared_dir):
    index = parse_sitemap((shared_dir / FIXTURES / "sitemaps/sitemap.index.xml").read_bytes())
    gzipped = parse_sitemap((shared_dir / FIXTURES / "sitemaps/xmlSitemap.gz").read_bytes())

    assert index is not None and index.kind == "sitemapindex" and len(index.entries) == 15
    assert index.entries[0].loc == "https://example.com/sitemap.jss?portalCode=10260&lang=en"
    assert gzipped is not None and gzipped.kind == "urlset" and len(gzipped.entries) == 5


def test_feeds_and_garbage_are_not_sitemaps(shared_dir):
    assert parse_sitemap((shared_dir / FIXTURES / "sitemaps/atom.xml").read_bytes()) is None
    assert parse_sitemap(b"<html><body>hello</body></html>") is None
    assert parse_sitemap(b"\x1f\x8b not really gzip") is None


def test_robots_txt_names_sitemaps_resolved_against_its_url(shared_dir):
    body = (shared_dir / FIXTURES / "robots/sitemap-robots.txt").read_bytes()

    assert sitemaps_in_robots(body, "http://domain.com/robots.txt") == [
        "http://domain.com/sitemap.xml",
        "http://domain.com/dir/MixedCased-sitemap.xml",
    ]


def test_only_entries_within_the_window_are_recent():
    since = datetime(2025, 5, 1, tzinfo=UTC)
    new = SitemapEntry("http://x/new", published=datetime(2025, 5, 2, tzinfo=UTC))
    old = SitemapEntry("http://x/old", published=datetime(2025, 4, 1, tzinfo=UTC))
    modified = SitemapEntry("http://x/mod", lastmod=datetime(2025, 5, 3, tzinfo=UTC))
    undated = SitemapEntry("http://x/undated")

    assert recent([new, old, modified, undated], since) == [new, modified, undated]
