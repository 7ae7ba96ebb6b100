"""Article extraction (pure) and feeds configured ``full_text: true`` (through the real CLI)."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3

import pytest
from conftest import rss, run_monitor, write_config
from news_site import NEWSPAPER, seed_page

from monitor.extract import extract_article

TRAFILATURA = "corpora/trafilatura-pages/tests/cache"
FUNDUS = "corpora/fundus-news/tests/resources/parser/test_data"


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def test_page_chrome_is_left_out_and_metadata_kept(shared_dir):
    headline, page = seed_page(shared_dir)

    article = extract_article(page, "https://News.example.org/world/seed?utm_source=x", "site")

    assert article is not None
    assert article.url == "https://news.example.org/world/seed"  # canonical
    assert article.title == headline
    assert "prisoner exchange" in article.text
    assert "Privacy" not in article.text and "Sport" not in article.text  # nav and footer
    assert article.author == "Staff Reporter"
    assert article.language == "en"


@pytest.mark.parametrize(
    ("stem", "published"),  # dates as the pages' original URLs give them
    [("bloomberg.com1", "2014-09-30"), ("nj.com1", "2015-01"), ("mashable.com1", "2010-01-01")],
)
def test_main_text_matches_the_corpus_expectation(shared_dir, stem, published):
    html = (shared_dir / NEWSPAPER / "html" / f"{stem}.html").read_bytes()
    expected = words((shared_dir / NEWSPAPER / "text" / f"{stem}.txt").read_text(errors="replace"))

    article = extract_article(html, f"http://127.0.0.1/{stem}.html", "corpus")

    assert article is not None
    got = words(article.text)
    assert len(expected & got) / len(expected) >= 0.9
    assert len(expected & got) / len(got) >= 0.9
    assert article.published is not None
    assert article.published.isoformat().startswith(published)


def test_title_author_and_date_match_a_current_news_page(shared_dir):
    truth = json.loads((shared_dir / FUNDUS / "us" / "Reuters.json").read_text())
    html = gzip.decompress((shared_dir / FUNDUS / "us" / "Reuters_2024_03_07.html.gz").read_bytes())

    article = extract_article(html, "https://www.reuters.com/world/x", "corpus")

    assert article is not None
    assert article.title in {v["title"] for v in truth.values()}
    assert article.published is not None
    assert article.published.date().isoformat() in {
        v["publishing_date"][:10] for v in truth.values()
    }
    assert article.author


def test_language_is_detected(shared_dir):
    german = (shared_dir / TRAFILATURA / "heise.de.lithium.html").read_bytes()
    article = extract_article(german, "https://www.heise.de/x", "corpus")
    assert article is not None and article.language == "de"


def test_a_page_without_main_text_gives_no_article():
    page = b"""<html><body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
    <form><label>Email</label><input name="e"><button>Sign in</button></form>
    <footer>Copyright 2025</footer></body></html>"""
    assert extract_article(page, "http://127.0.0.1/login", "s") is None


def test_full_text_feed_entries_are_classified_on_their_page(
    tmp_path, server, receiver, shared_dir
):
    _, page = seed_page(shared_dir)
    server.routes["/story.html"] = (200, {"Content-Type": "text/html"}, page)
    teaser = {
        "title": "Breakthrough after call between leaders",
        "link": server.url("/story.html"),
        "description": "Read the full story on our site.",
    }
    broken = {
        "title": "Storm warning for the coast",
        "link": server.url("/gone.html"),  # 404: the entry is kept as the feed gave it
        "description": "Forecasters expect heavy rain.",
    }
    server.routes["/full.xml"] = rss([teaser, broken])
    server.routes["/short.xml"] = rss([{**teaser, "link": server.url("/other.html")}])
    config = write_config(
        tmp_path,
        f"""
feeds:
  - {{name: full, url: "{server.url("/full.xml")}", full_text: true}}
  - {{name: short, url: "{server.url("/short.xml")}"}}
notifiers: [{{name: ops, type: webhook, url: "{receiver.url("/hook")}"}}]
""",
    )

    first = run_monitor("poll", "--once", "--config", str(config))
    second = run_monitor("poll", "--once", "--config", str(config))

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    pages = [r.path for r in server.requests if r.path.endswith(".html")]
    assert sorted(pages) == ["/gone.html", "/story.html"]  # once each; none for the short feed
    db = sqlite3.connect(tmp_path / "monitor.db")
    title, text = db.execute("SELECT title, text FROM articles WHERE source = 'full'").fetchone()
    assert title == teaser["title"]  # the feed's own title is kept
    assert "prisoner exchange" in text
    assert db.execute(
        "SELECT summary, text FROM articles WHERE title = 'Storm warning for the coast'"
    ).fetchone() == (
        broken["description"],
        "",
    )
    (hook,) = receiver.posts("/hook")
    assert hook.json()["article"]["url"] == server.url("/story.html")


@pytest.mark.parametrize(
    ("robots", "fetched"),
    [
        # A group for our agent replaces the one for everyone: only /paywall/ is refused.
        (
            (
                200,
                {},
                b"User-agent: *\nDisallow: /private/\n\nUser-agent: newsmonitor\nDisallow: /paywall/\n",
            ),
            ["/open/b.html", "/private/a.html"],
        ),
        (
            (404, {}, b"not here"),
            ["/open/b.html", "/paywall/c.html", "/private/a.html"],
        ),  # all allowed
        ((503, {}, b"try later"), []),  # unavailable: nothing is fetched (RFC 9309)
    ],
    ids=["rules", "missing", "unavailable"],
)
def test_full_text_pages_refused_by_robots_txt_are_not_fetched(tmp_path, server, robots, fetched):
    page = (
        b"<html><body><article><p>"
        + b"A page of some length. " * 40
        + b"</p></article></body></html>"
    )
    for path in ("/private/a.html", "/open/b.html", "/paywall/c.html"):
        server.routes[path] = (200, {"Content-Type": "text/html"}, page)
    server.routes["/robots.txt"] = robots
    items = [
        {"title": f"Entry {n}", "link": server.url(path), "description": f"Teaser {n}."}
        for n, path in enumerate(("/private/a.html", "/open/b.html", "/paywall/c.html"))
    ]
    server.routes["/full.xml"] = rss(items)
    config = write_config(
        tmp_path,
        f"""
user_agent: "newsmonitor/0.1 (+https://example.org/contact)"
feeds:
  - {{name: full, url: "{server.url("/full.xml")}", full_text: true}}
""",
    )

    result = run_monitor("poll", "--once", "--config", str(config))

    assert result.returncode == 0, result.stderr
    pages = sorted(r.path for r in server.requests if r.path.endswith(".html"))
    assert pages == fetched
    assert [r.path for r in server.requests].count("/robots.txt") == 1  # asked once per site
    db = sqlite3.connect(tmp_path / "monitor.db")
    stored = dict(db.execute("SELECT url, text FROM articles").fetchall())
    assert len(stored) == 3  # a refused page only means the feed's own summary is kept
    for path in ("/private/a.html", "/open/b.html", "/paywall/c.html"):
        assert bool(stored[server.url(path)]) == (path in fetched)
