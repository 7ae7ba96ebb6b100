"""``monitor review``: Datasette over the log, seen through a real headless Chromium."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, LoopbackServer, free_port, monitor_env, rss, write_config
from polling import poll_once

from monitor.review import CANNED_QUERIES, review_metadata

SEED = "seeds/000_21992df74e6d58a5.txt"


def seed_item(shared: Path) -> dict[str, str]:
    """The seed story as a feed item: its headline is the first line that reads as one."""
    lines = [line.strip() for line in (shared / SEED).read_text().splitlines() if line.strip()]
    title = next(line for line in lines if len(line.split()) >= 6)
    body = " ".join(lines[lines.index(title) + 1 :])
    return {
        "title": title,
        "link": "https://news.example.org/world/russia-us-prisoner-exchange",
        "description": body,
        "pubDate": "Sun, 25 May 2025 10:00:00 GMT",
    }


@pytest.fixture(scope="module")
def seeded_log(tmp_path_factory, shared_dir) -> Iterator[tuple[Path, dict[str, str]]]:
    """A log holding the seed story's match, made by a real ``monitor poll --once``."""
    item = seed_item(shared_dir)
    server = LoopbackServer(routes={"/world.xml": rss([item])})
    config = write_config(
        tmp_path_factory.mktemp("review"),
        f'feeds: [{{name: world, url: "{server.url("/world.xml")}"}}]',
    )
    report = poll_once(config)
    server.close()
    assert report.ingest.matched == 1
    yield config, item


@pytest.fixture(scope="module")
def review(seeded_log) -> Iterator[tuple[str, dict[str, str]]]:
    """``monitor review --no-browser`` serving the seeded log; yields its base URL."""
    config, item = seeded_log
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "review", "--no-browser", "--port", str(port)]
        + ["--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=monitor_env(),
        cwd=str(REPO),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(base + "/-/versions.json", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        assert process.poll() is None, process.communicate()[0]
        yield base, item
    finally:
        process.terminate()
        process.communicate(timeout=15)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("no Chromium here (.ci/run installs Debian's chromium when it runs as root)")


def browse(url: str, *flags: str) -> str:
    """Load ``url`` in headless Chromium and return what it printed (the DOM with --dump-dom)."""
    with tempfile.TemporaryDirectory(prefix="nm-chromium-") as profile:
        result = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *flags,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_review_shows_the_seed_story_match_in_a_browser(review):
    base, item = review
    page = browse(f"{base}/monitor/todays_matches", "--dump-dom")

    assert item["title"] in page
    assert f'<a href="{item["link"]}">' in page  # the article link is clickable
    assert "prisoner_swap" in page and "diplomacy" in page


def test_review_home_and_match_log_explain_the_log(review):
    base, item = review
    home = browse(f"{base}/", "--dump-dom")
    match_log = browse(f"{base}/monitor/match_log", "--dump-dom")
    search = browse(f"{base}/monitor/search?q=Lavrov", "--dump-dom")

    for query in CANNED_QUERIES.values():
        assert query["title"] in home
    assert 'id="facet-topic"' in match_log and 'id="facet-source"' in match_log
    assert item["link"] in match_log
    assert item["link"] in search and "Lavrov" in search


def own_addresses() -> set[str]:
    """This machine's IPv4 addresses: the hostname's, and the one a route out would use."""
    found = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))  # UDP connect sends nothing; it picks a route
            found.add(probe.getsockname()[0])
        except OSError:
            pass
    return found


def test_review_is_served_on_loopback_only(review):
    base, _ = review
    port = int(base.rsplit(":", 1)[1])
    addresses = {address for address in own_addresses() if not address.startswith("127.")}
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    for address in addresses:
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
            pass


def test_canned_queries_answer_against_a_real_log(tmp_path):
    from monitor.models import Article, Classification
    from monitor.store import Store

    store = Store(tmp_path / "monitor.db")
    article_id = store.insert_article(
        Article(url="https://x.org/a", title="Swap", source="w", text="prisoner exchange")
    )
    assert article_id
    why = {"prisoner_swap": ["prisoner exchange"], "diplomacy": ["talks"]}
    store.record_matches(
        article_id, Classification(topics=list(why), scores={"prisoner_swap": 1.0}, why=why)
    )
    store.sync_sources([("w", "feed", "https://x.org/feed")])
    store.close()
    db = sqlite3.connect(tmp_path / "monitor.db")
    answers = {
        name: db.execute(query["sql"], {"q": "exchange"}).fetchall()
        for name, query in CANNED_QUERIES.items()
    }
    tables = review_metadata("monitor")["databases"]["monitor"]["tables"]
    existing = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}

    assert set(tables) <= existing
    (today,) = answers["todays_matches"]  # one line per article, both topics on it
    assert today[1] == "prisoner_swap, diplomacy"
    assert today[5] == "prisoner_swap: prisoner exchange; diplomacy: talks"
    assert len(answers["search"]) == 1 and answers["search"][0][3] == "https://x.org/a"
    assert [row[0] for row in answers["sick_sources"]] == ["w"]  # never succeeded
