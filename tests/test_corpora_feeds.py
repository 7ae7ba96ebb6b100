"""Every feed in ../shared/corpora is parsed or cleanly rejected, never a crash; odd encodings
come out as the right characters."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from monitor.sources.errors import KINDS, SourceError
from monitor.sources.parse import parse_document

FEED_CORPORA = (
    "feedparser-tests",
    "gofeed-testdata",
    "rss-parser-input",
    "miniflux-reader-testdata",
    "fastfeedparser-realfeeds",
    "crawler-commons-sitemaps/src/test/resources/rss",
)
NOT_FEEDS = (".md", ".tsv", ".txt", ".go")


def corpus_files(shared: Path) -> list[Path]:
    return sorted(
        path
        for corpus in FEED_CORPORA
        for path in (shared / "corpora" / corpus).rglob("*")
        if path.is_file() and not path.name.endswith(NOT_FEEDS)
    )


def test_every_corpus_feed_is_parsed_or_cleanly_rejected(shared_dir):
    files = corpus_files(shared_dir)
    outcomes: Counter[str] = Counter()
    for path in files:
        try:
            parsed = parse_document(path.read_bytes(), "corpus", "http://example.org/feed")
        except SourceError as exc:
            assert exc.kind in KINDS and str(exc), path
            outcomes[exc.kind] += 1
        else:
            assert all(a.url.startswith(("http://", "https://")) for a in parsed.articles), path
            outcomes[parsed.parser] += 1
    assert len(files) > 3000
    assert outcomes["fastfeedparser"] + outcomes["feedparser"] > 2500, outcomes


def test_real_feeds_all_yield_articles(shared_dir):
    real = shared_dir / "corpora" / "fastfeedparser-realfeeds" / "benchmark_data"
    empty = [p.name for p in sorted(real.iterdir()) if not _articles(p)]
    assert len(empty) <= 3, empty  # a handful of real feeds carry no linked entries at all


def _articles(path: Path) -> int:
    try:
        return len(parse_document(path.read_bytes(), "real", "http://example.org/").articles)
    except SourceError:
        return 0


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("miniflux-reader-testdata/internal/reader/xml/testdata/koi8r.xml", "Первая новость"),
        (
            "miniflux-reader-testdata/internal/reader/parser/testdata/encoding_WINDOWS-1251.xml",
            "Цитата #17703",
        ),
    ],
)
def test_declared_cyrillic_encodings_are_decoded(shared_dir, relative, expected):
    parsed = parse_document((shared_dir / "corpora" / relative).read_bytes(), "ru", "")
    assert parsed.articles[0].title == expected


def test_undeclared_latin1_falls_back_to_feedparser(shared_dir):
    path = shared_dir / "corpora" / "rss-parser-input/test/input/uolNoticias.rss"
    parsed = parse_document(path.read_bytes(), "uol", "http://noticias.uol.com.br/")
    assert parsed.parser == "feedparser"
    assert not any("\ufffd" in a.title for a in parsed.articles)
    assert any("ções" in a.title for a in parsed.articles)
