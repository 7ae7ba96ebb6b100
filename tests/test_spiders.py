"""Spiders through the real CLI: `monitor crawl` against a loopback site built from the corpora."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, LoopbackServer, monitor_env, run_monitor, write_config
from news_site import FAST, USER_AGENT, NewsSite, build_listing, build_site


def spider_config(directory: Path, *spiders: dict[str, object], **top: object) -> Path:
    entries = [{**FAST, **s} for s in spiders]
    body = json.dumps({"user_agent": USER_AGENT, "spiders": entries, **top})
    return write_config(directory, body)


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def rows(db_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as db:
        return db.execute(sql).fetchall()


@dataclass
class TwoCrawls:
    site: NewsSite
    db: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    first_requests: list[str]
    second_requests: list[str]


@pytest.fixture(scope="module")
def two_crawls(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoCrawls]:
    """robots.txt → sitemap index → news sitemap, crawled twice with `monitor crawl`."""
    server = LoopbackServer()
    site = build_site(server, shared_dir)
    directory = tmp_path_factory.mktemp("crawl")
    config = spider_config(
        directory,
        {
            "name": "site",
            "spider": "news_sitemap",
            "url": server.url("/robots.txt"),
            "window": "2d",
        },
    )
    first = run_monitor("crawl", "site", "--config", str(config))
    first_requests = site.requested()
    server.requests.clear()
    second = run_monitor("crawl", "--config", str(config))
    yield TwoCrawls(site, directory / "monitor.db", first, second, first_requests, site.requested())
    server.close()


def test_every_recent_sitemap_entry_becomes_one_article_with_clean_text(two_crawls):
    assert two_crawls.first.returncode == 0, two_crawls.first.stderr
    stored = dict(rows(two_crawls.db, "SELECT url, text FROM articles"))
    site = two_crawls.site
    assert set(stored) == {site.server.url(path) for path in site.articles}

    for path in site.articles:
        text = stored[site.server.url(path)]
        expected = words(site.expected_text(path))
        got = words(text)
        recall = len(expected & got) / len(expected)
        precision = len(expected & got) / len(got)
        assert recall >= 0.85 and precision >= 0.85, (path, recall, precision)
    assert "8 new" in two_crawls.first.stdout


def test_entries_older_than_the_window_are_not_fetched(two_crawls):
    assert not [p for p in two_crawls.first_requests if p.startswith("/archive/")]


def test_robots_disallowed_paths_are_never_requested(two_crawls):
    requested = two_crawls.first_requests + two_crawls.second_requests
    assert "/robots.txt" in requested
    assert not [p for p in requested if p.startswith("/private/")]


def test_the_configured_user_agent_is_sent(two_crawls):
    agents = {r.headers.get("User-Agent") for r in two_crawls.site.server.requests}
    assert agents == {USER_AGENT}


def test_second_crawl_downloads_no_known_article_page(two_crawls):
    assert two_crawls.second.returncode == 0, two_crawls.second.stderr
    assert "/sitemaps/news.xml" in two_crawls.second_requests  # it did look again
    assert not [p for p in two_crawls.second_requests if p.startswith("/news/")]
    assert "0 new" in two_crawls.second.stdout


def test_crawl_records_source_health(two_crawls):
    health = run_monitor(
        "feeds", "--format", "json", "--config", str(two_crawls.db.parent / "config.yaml")
    )
    (row,) = [json.loads(line) for line in health.stdout.splitlines()]
    assert row["name"] == "site" and row["kind"] == "spider"
    assert row["last_success"] and row["consecutive_failures"] == 0
    assert row["articles_total"] == len(two_crawls.site.articles)


def test_listing_follows_selectors_and_pagination_up_to_the_depth_limit(
    tmp_path, server, shared_dir
):
    links = build_listing(server, shared_dir, pages=3)
    config = spider_config(
        tmp_path,
        {
            "name": "section",
            "spider": "listing",
            "url": server.url("/section/1"),
            "links": {"css": "li.story h2"},
            "next_page": {"xpath": "//a[@rel='next']/@href"},
            "depth_limit": 2,
        },
    )

    result = run_monitor("crawl", "--config", str(config))

    assert result.returncode == 0, result.stderr
    stored = {url for (url,) in rows(tmp_path / "monitor.db", "SELECT url FROM articles")}
    assert stored == {server.url(p) for p in links[1] + links[2]}
    requested = [r.path for r in server.requests]
    assert "/section/3" not in requested and not set(links[3]) & set(requested)


def test_a_failing_start_url_is_recorded_on_the_source_not_fatal(tmp_path, server):
    server.routes["/robots.txt"] = (200, {"Content-Type": "text/plain"}, b"User-agent: *\n")
    config = spider_config(
        tmp_path, {"name": "gone", "spider": "news_sitemap", "url": server.url("/missing.xml")}
    )

    result = run_monitor("crawl", "--config", str(config))

    assert result.returncode == 0, result.stderr
    assert "1 failed" in result.stdout
    ((error, failures),) = rows(
        tmp_path / "monitor.db", "SELECT last_error, consecutive_failures FROM sources"
    )
    assert "HTTP 404" in error and failures == 1


def test_an_unknown_spider_name_is_a_usage_error(tmp_path, server):
    config = spider_config(
        tmp_path, {"name": "site", "spider": "news_sitemap", "url": server.url("/s.xml")}
    )

    result = run_monitor("crawl", "nope", "--config", str(config))

    assert result.returncode == 2
    assert "unknown spider nope" in result.stderr and "site" in result.stderr
    assert not server.requests


def test_a_misspelt_spider_setting_fails_at_config_load_with_its_key_path(tmp_path):
    config = spider_config(
        tmp_path,
        {
            "name": "site",
            "spider": "news_sitemap",
            "url": "http://127.0.0.1:9/s.xml",
            "windw": "1d",
        },
        {"name": "section", "spider": "listing", "url": "http://127.0.0.1:9/"},
        {"name": "other", "spider": "rss_magic", "url": "http://127.0.0.1:9/"},
    )

    result = run_monitor("check-config", "--config", str(config))

    assert result.returncode == 2
    assert "spiders[0:site]: windw: not a setting of news_sitemap spiders" in result.stderr
    assert "spiders[1:section]: links: Field required" in result.stderr
    assert "spiders[2:other]: spider: unknown spider 'rss_magic'" in result.stderr


def test_scrapy_lists_the_spiders_from_the_project_folder():
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=REPO / "spiders",
        env=monitor_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["listing", "news_sitemap"]


def test_scrapy_crawl_feeds_the_same_pipeline(tmp_path, server, shared_dir):
    links = build_listing(server, shared_dir, pages=1)
    config = spider_config(
        tmp_path,
        {
            "name": "section",
            "spider": "listing",
            "url": server.url("/section/1"),
            "links": {"css": "li.story a"},
        },
    )

    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "listing", "-a", "source=section"],
        cwd=REPO / "spiders",
        env=monitor_env(MONITOR_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert result.returncode == 0, result.stderr
    stored = rows(tmp_path / "monitor.db", "SELECT url, source FROM articles")
    assert sorted(stored) == sorted((server.url(p), "section") for p in links[1])


def test_the_daemon_side_never_imports_scrapy_or_twisted():
    code = (
        "import sys, monitor.cli, monitor.daemon, monitor.service, monitor.sources.crawl\n"
        "from monitor.config import load_config\n"
        "config = load_config(sys.argv[1], env={})\n"
        "assert config.spiders and all(s.options for s in config.spiders)\n"
        "print(sorted(m for m in ('scrapy', 'twisted') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "config.yaml")],
        env=monitor_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
