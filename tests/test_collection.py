"""Polling at scale: conditional GET, unchanged bodies, server hints, adaptive intervals,
backoff, politeness, batched state writes, ``monitor feeds``, and a start-up that never loads
the crawler, the metrics endpoint or apprise."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    REPO,
    Request,
    feeds_yaml,
    monitor_env,
    rss,
    run_monitor,
    start_daemon,
    write_config,
)
from stories import SWAP

from monitor.config import load_config
from monitor.service import Service


def poll_once(config_path: Path) -> None:
    """One in-process pass, exactly as ``monitor poll --once`` polls."""

    async def run() -> None:
        async with Service(load_config(config_path)) as service:
            await service.poll_all()

    asyncio.run(run())


def source(config_path: Path, name: str) -> dict[str, Any]:
    from monitor.store import Store

    store = Store(load_config(config_path).database)
    try:
        return next(r for r in store.source_rows() if r["name"] == name)
    finally:
        store.close()


def seconds_until(moment: str) -> float:
    return (datetime.fromisoformat(moment) - datetime.now(UTC)).total_seconds()


def fresh_items(count: int, every: timedelta) -> list[dict[str, str]]:
    now = datetime.now(UTC)
    return [
        {
            "title": f"Story {i}",
            "link": f"http://127.0.0.1/story/{i}",
            "pubDate": format_datetime(now - every * i, usegmt=True),
        }
        for i in range(count)
    ]


def etagged_swap(request: Request) -> tuple[int, dict[str, str], bytes]:
    """A feed with ETag "v1" that answers 304 when it is sent back."""
    if request.headers.get("If-None-Match") == '"v1"':
        return 304, {"ETag": '"v1"'}, b""
    return 200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, rss([SWAP])


def one_feed(tmp_path: Path, url: str, extra: str = "") -> Path:
    return write_config(tmp_path, f'feeds: [{{name: f, url: "{url}"{extra}}}]')


def test_conditional_get_sends_validators_and_304_is_not_parsed(tmp_path, server):
    def etagged(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        headers = {"ETag": '"v1"', "Last-Modified": "Thu, 22 May 2025 10:00:00 GMT"}
        return 200, {"Content-Type": "application/rss+xml", **headers}, rss([SWAP])

    server.routes["/feed.xml"] = etagged
    config = one_feed(tmp_path, server.url("/feed.xml"))

    poll_once(config)
    poll_once(config)

    first, second = server.requests
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"] == '"v1"'
    assert second.headers["If-Modified-Since"] == "Thu, 22 May 2025 10:00:00 GMT"
    row = source(config, "f")
    assert row["last_status"] == "not modified" and row["articles_total"] == 1


def test_validators_are_kept_when_a_304_does_not_repeat_them(tmp_path, server):
    def etagged(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("If-None-Match") == '"v1"':
            return 304, {}, b""  # allowed: a 304 need not send the ETag again
        return 200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, rss([SWAP])

    server.routes["/feed.xml"] = etagged
    config = one_feed(tmp_path, server.url("/feed.xml"))

    for _ in range(3):
        poll_once(config)

    assert [r.headers.get("If-None-Match") for r in server.requests] == [None, '"v1"', '"v1"']
    assert source(config, "f")["last_status"] == "not modified"


def test_an_unchanged_body_is_recognised_by_its_hash(tmp_path, server):
    server.routes["/feed.xml"] = rss([SWAP])  # no validators: every answer is a full 200
    config = one_feed(tmp_path, server.url("/feed.xml"))

    poll_once(config)
    assert source(config, "f")["last_status"] == "new"
    poll_once(config)

    row = source(config, "f")
    assert row["last_status"] == "unchanged" and row["consecutive_failures"] == 0


@pytest.mark.parametrize(
    ("headers", "body_extra", "at_least"),
    [
        ({"Cache-Control": "public, max-age=7200"}, "", 7200),
        ({}, "<ttl>180</ttl>", 180 * 60),
    ],
)
def test_max_age_and_ttl_delay_the_next_poll(tmp_path, server, headers, body_extra, at_least):
    body = rss([SWAP]).replace(b"<description>test feed</description>", body_extra.encode(), 1)
    server.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml", **headers}, body)
    config = one_feed(tmp_path, server.url("/feed.xml"), ", interval: 1m")

    poll_once(config)

    assert seconds_until(source(config, "f")["next_poll"]) > at_least - 5


def test_retry_after_is_honoured(tmp_path, server):
    server.routes["/feed.xml"] = (503, {"Retry-After": "5400"}, b"busy")
    config = one_feed(tmp_path, server.url("/feed.xml"), ", interval: 1m")

    poll_once(config)

    row = source(config, "f")
    assert row["last_error_kind"] == "http_status" and "503" in row["last_error"]
    assert seconds_until(row["next_poll"]) > 5400 - 5


def test_failing_source_backs_off_exponentially_then_recovers(tmp_path, server):
    server.routes["/feed.xml"] = (500, {}, b"down")
    config = one_feed(tmp_path, server.url("/feed.xml"), ", interval: 1m, max_interval: 1h")
    intervals = []
    for _ in range(4):
        poll_once(config)
        intervals.append(source(config, "f")["poll_interval"])

    for failures, seconds in enumerate(intervals):  # 1, 2, 4, 8 minutes, plus jitter
        assert 60 * 2**failures - 1 <= seconds <= 60 * 2**failures * 1.1 + 1
    assert source(config, "f")["consecutive_failures"] == 4

    server.routes["/feed.xml"] = rss([SWAP])
    poll_once(config)
    row = source(config, "f")
    assert row["consecutive_failures"] == 0 and row["poll_interval"] <= 60 * 60 * 1.1


def test_busy_feed_is_polled_often_and_quiet_feed_rarely(tmp_path, server):
    server.routes["/busy.xml"] = rss(fresh_items(30, timedelta(minutes=10)))
    server.routes["/quiet.xml"] = rss(fresh_items(3, timedelta(days=20))[1:])  # all > 1 week
    config = write_config(
        tmp_path,
        "defaults: {interval: 5m, min_interval: 1m, max_interval: 6h}\n"
        + feeds_yaml(server, {"busy": "/busy.xml", "quiet": "/quiet.xml"}),
    )

    poll_once(config)

    busy, quiet = source(config, "busy"), source(config, "quiet")
    assert 8 * 60 < busy["poll_interval"] < 12 * 60  # one story every 10 minutes
    assert quiet["poll_interval"] >= 6 * 3600  # nothing this week: the maximum


def test_per_host_limit_and_user_agent(tmp_path, server):
    lock, in_flight, peak = threading.Lock(), [0], [0]

    def slow(request: Request) -> bytes:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.3)
        with lock:
            in_flight[0] -= 1
        return rss([SWAP])

    for i in range(8):
        server.routes[f"/feed{i}.xml"] = slow
    feeds = ", ".join(f'{{name: f{i}, url: "{server.url(f"/feed{i}.xml")}"}}' for i in range(8))
    config = write_config(
        tmp_path,
        f'user_agent: "polite-test/1.0"\nfetch: {{per_host: 2}}\nfeeds: [{feeds}]',
    )

    poll_once(config)

    assert len(server.requests) == 8 and peak[0] == 2
    assert {r.headers["User-Agent"] for r in server.requests} == {"polite-test/1.0"}


def test_not_modified_answers_leave_the_connection_open_for_the_next_feed(tmp_path, server):
    for i in range(5):
        server.routes[f"/feed{i}.xml"] = etagged_swap
    feeds = ", ".join(f'{{name: f{i}, url: "{server.url(f"/feed{i}.xml")}"}}' for i in range(5))
    config = write_config(tmp_path, f"fetch: {{per_host: 1}}\nfeeds: [{feeds}]")
    poll_once(config)
    first_pass = len(server.requests)

    poll_once(config)

    again = server.requests[first_pass:]
    assert [r.headers.get("If-None-Match") for r in again] == ['"v1"'] * 5
    assert len({r.client_port for r in again}) == 1


def test_a_pass_records_its_unchanged_and_failed_feeds_in_one_transaction(tmp_path, server):
    server.routes["/etagged.xml"] = etagged_swap
    server.routes["/same.xml"] = rss([SWAP])  # no validators: the same body every time
    feeds = {"etagged": "/etagged.xml", "same": "/same.xml", "gone": "/gone.xml"}
    listed = ", ".join(f'{{name: {n}, url: "{server.url(p)}"}}' for n, p in feeds.items())
    config = write_config(tmp_path, f"feeds: [{listed}]")
    poll_once(config)
    commits: list[str] = []

    async def second_pass() -> None:
        async with Service(load_config(config)) as service:
            service.store.db.conn.set_trace_callback(
                lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
            )
            await service.poll_all()

    asyncio.run(second_pass())

    assert len(commits) == 1
    statuses = {name: source(config, name) for name in feeds}
    assert statuses["etagged"]["last_status"] == "not modified"
    assert statuses["same"]["last_status"] == "unchanged"
    assert statuses["gone"]["last_status"] == "failed"
    assert statuses["gone"]["consecutive_failures"] == 2


def test_starting_again_on_the_same_feeds_writes_nothing_and_a_moved_feed_is_updated(
    tmp_path, server
):
    """Every command makes sure each configured source has its row: rows that already say
    what the config says are not written again (a WAL write of the table on every start),
    and a feed whose URL changed is updated."""
    server.routes["/a.xml"] = rss([SWAP])
    config = write_config(tmp_path, f'feeds: [{{name: a, url: "{server.url("/a.xml")}"}}]')
    poll_once(config)
    changes: list[int] = []

    async def start(path: Path) -> None:
        async with Service(load_config(path)) as service:
            changes.append(service.store.conn.total_changes)

    asyncio.run(start(config))
    moved = write_config(tmp_path, f'feeds: [{{name: a, url: "{server.url("/b.xml")}"}}]')
    asyncio.run(start(moved))

    assert changes == [0, 1]
    assert source(moved, "a")["url"] == server.url("/b.xml")


def test_a_feed_that_stored_articles_is_recorded_before_the_pass_ends(tmp_path, server):
    release = threading.Event()

    def stalled(request: Request) -> bytes:
        release.wait(20)
        return rss([SWAP])

    server.routes["/fresh.xml"] = rss(fresh_items(3, timedelta(hours=1)))
    server.routes["/stalled.xml"] = stalled
    config = write_config(
        tmp_path, feeds_yaml(server, {"fresh": "/fresh.xml", "stalled": "/stalled.xml"})
    )
    seen_mid_pass: dict[str, Any] = {}

    async def watched_pass() -> None:
        async with Service(load_config(config)) as service:
            poll = asyncio.create_task(service.poll_all())
            for _ in range(400):
                if source(config, "fresh")["last_status"] is not None:
                    break
                await asyncio.sleep(0.05)
            seen_mid_pass.update(fresh=source(config, "fresh"), stalled=source(config, "stalled"))
            release.set()
            await poll

    asyncio.run(watched_pass())

    fresh, stalled = seen_mid_pass["fresh"], seen_mid_pass["stalled"]
    assert fresh["last_status"] == "new" and fresh["articles_total"] == 3
    assert stalled["last_status"] is None  # still in flight
    assert source(config, "stalled")["last_status"] == "new"


def pass_with_a_broken_feed(tmp_path: Path, server: Any) -> tuple[Path, int, int]:
    """One pass over a good feed (3 entries) and a ``broken`` one: the config, how many
    feeds failed and how many articles were stored."""
    server.routes["/good.xml"] = rss(fresh_items(3, timedelta(hours=1)))
    server.routes["/broken.xml"] = rss([SWAP])
    config = write_config(
        tmp_path, feeds_yaml(server, {"good": "/good.xml", "broken": "/broken.xml"})
    )

    async def one_pass() -> tuple[int, int]:
        async with Service(load_config(config)) as service:
            report = await service.poll_all()
        return report.failed, report.ingest.new

    return (config, *asyncio.run(one_pass()))


def test_a_feed_whose_articles_cannot_be_stored_fails_alone(tmp_path, server, monkeypatch):
    """A store failure (a bug, a full disk) for one feed is recorded on that feed; the other
    feeds of the pass are stored and the pass ends normally."""
    from monitor.pipeline import Pipeline

    real_ingest = Pipeline.ingest

    def ingest(self, articles, analyses=None):  # type: ignore[no-untyped-def]
        if any(a.source == "broken" for a in articles):
            raise OSError("disk I/O error")  # what cannot be made to happen for real here
        return real_ingest(self, articles, analyses)

    monkeypatch.setattr(Pipeline, "ingest", ingest)

    config, failed, stored = pass_with_a_broken_feed(tmp_path, server)

    assert (failed, stored) == (1, 3)
    broken, good = source(config, "broken"), source(config, "good")
    assert broken["last_error_kind"] == "store" and "disk I/O error" in broken["last_error"]
    assert good["last_status"] == "new" and good["articles_total"] == 3


def test_a_parser_or_classifier_bug_on_one_feed_is_recorded_on_that_feed(
    tmp_path, server, monkeypatch
):
    """Whatever a parser or the classifier raises on a document (a bug met on odd input)
    becomes that feed's ``parse`` failure; the other feeds of the pass are stored."""
    import monitor.sources.parse as parse

    real_read = parse.read_feed

    def read_feed(content, source, base_url, analyzer=None):  # type: ignore[no-untyped-def]
        if source == "broken":
            raise RecursionError("maximum recursion depth exceeded")  # cannot be made to happen
        return real_read(content, source, base_url, analyzer)

    monkeypatch.setattr(parse, "read_feed", read_feed)  # small documents parse in a thread

    config, failed, stored = pass_with_a_broken_feed(tmp_path, server)

    assert (failed, stored) == (1, 3)
    broken = source(config, "broken")
    assert broken["last_error_kind"] == "parse" and "RecursionError" in broken["last_error"]


def test_feeds_command_shows_health_error_and_next_poll(tmp_path, server):
    server.routes["/good.xml"] = rss([SWAP])
    config = write_config(tmp_path, feeds_yaml(server, {"good": "/good.xml", "gone": "/gone.xml"}))
    poll_once(config)

    table = run_monitor("feeds", "--format", "table", "--config", str(config), COLUMNS="250")
    rows = [
        json.loads(line)
        for line in run_monitor("feeds", "--config", str(config)).stdout.splitlines()
    ]

    assert table.returncode == 0, table.stderr
    assert "ok (new)" in table.stdout and "failing x1" in table.stdout
    assert "http_status" in table.stdout
    by_name = {r["name"]: r for r in rows}
    assert by_name["gone"]["last_error"] == "HTTP 404 Not Found"
    assert by_name["good"]["next_poll"] and by_name["gone"]["next_poll"]


HEAVY = ("scrapy", "twisted", "prometheus_client", "apprise")
IMPORTED = """
import sys
from monitor.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
loaded = [name for name, module in sys.modules.items() if module is not None]
print("\\n".join(sorted(m for m in loaded if m.split(".")[0] in {heavy!r})))
"""


def modules_loaded(argv: list[str], packages: set[str]) -> set[str]:
    """The modules of these packages that ``monitor ARGV`` imported, run in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED.format(heavy=packages), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=monitor_env(),
        cwd=str(REPO),
    )
    assert done.returncode == 0, done.stderr
    return {line for line in done.stdout.splitlines() if line.split(".")[0] in packages}


@pytest.mark.parametrize("args", [["--help"], ["poll", "--once"], ["feeds"], ["check-config"]])
def test_commands_never_import_the_crawler_metrics_or_apprise_they_do_not_use(
    tmp_path, server, args
):
    server.routes["/feed.xml"] = rss([SWAP])
    config = one_feed(tmp_path, server.url("/feed.xml"))
    argv = args if args == ["--help"] else [*args, "--config", str(config)]

    assert modules_loaded(argv, set(HEAVY)) == set()


def test_a_poll_in_which_nothing_changed_loads_no_parser_or_classifier(tmp_path, server):
    """Start-up is most of a quiet pass: a poll answered only with 304s skips the parsers,
    the classifier, the story index, sqlite-utils and the process pool, and their imports."""
    server.routes["/feed.xml"] = etagged_swap
    config = one_feed(tmp_path, server.url("/feed.xml"))
    first = run_monitor("poll", "--once", "--config", str(config))
    assert first.returncode == 0 and "1 new" in first.stdout, first.stderr
    loaded = modules_loaded(
        ["poll", "--once", "--config", str(config)],
        {
            *("fastfeedparser", "feedparser", "monitor", "sqlite_utils", "numpy", "httpx"),
            *("click", "multiprocessing"),
        },
    )

    assert not loaded & {
        "fastfeedparser",
        "feedparser",
        "monitor.sources.parse",
        "monitor.classify.classifier",
        "monitor.classify.entities",
        "monitor.pipeline",
        "monitor.stories",
        "monitor.dedupe",
        "monitor.sources.workers",  # the parse workers' process pool, and multiprocessing
        "multiprocessing",
        "sqlite_utils",
        "numpy",
        "httpx._main",  # httpx's own command-line client, and the click it needs
        "click",
    }
    assert "monitor.service" in loaded  # the poll did run
    assert source(config, "f")["last_status"] == "not modified"


FORK_SERVER_RUNNING = """
import os, sys
from monitor.cli import main
code = main(sys.argv[1:])
children = set()
for task in os.listdir("/proc/self/task"):
    children.update(open(f"/proc/self/task/{task}/children").read().split())
commands = [open(f"/proc/{pid}/cmdline").read() for pid in children]
print(code, any("multiprocessing.forkserver" in command for command in commands))
"""


def fork_server_started(argv: list[str]) -> bool:
    """Whether ``monitor ARGV`` (run in a fresh process) left a fork server running."""
    done = subprocess.run(
        [sys.executable, "-c", FORK_SERVER_RUNNING, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=monitor_env(),
        cwd=str(REPO),
    )
    code, started = done.stdout.splitlines()[-1].split()
    assert code == "0", done.stderr
    return started == "True"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_first_poll_starts_its_parse_workers_at_once_and_a_quiet_one_does_not(tmp_path, server):
    """A feed that never delivered a document will be parsed: the workers' fork server
    starts before the poll's own imports. Once every feed has been read, a pass may find
    nothing new (and here finds nothing): the fork server waits for a first new document, as
    it does when the only feed not read yet keeps failing. The feed is small, so it is
    parsed in a thread and only an early start leaves a fork server behind."""
    server.routes["/feed.xml"] = etagged_swap
    config = one_feed(tmp_path, server.url("/feed.xml"))
    argv = ["poll", "--once", "--config", str(config)]

    assert fork_server_started(argv)
    assert source(config, "f")["articles_total"] == 1
    assert not fork_server_started(argv)
    assert source(config, "f")["last_status"] == "not modified"

    import yaml

    more = yaml.safe_load(config.read_text())
    more["feeds"].append({"name": "g", "url": server.url("/feed.xml")})
    config.write_text(yaml.safe_dump(more, sort_keys=False))
    assert fork_server_started(argv)  # g has not been read yet

    # A feed that has never worked: tried once, like any new feed, then left to the first
    # new document (it would otherwise start the workers early on every pass).
    more["feeds"].append({"name": "h", "url": server.url("/gone.xml")})
    config.write_text(yaml.safe_dump(more, sort_keys=False))
    assert fork_server_started(argv)
    assert source(config, "h")["consecutive_failures"] == 1
    assert not fork_server_started(argv)
    assert source(config, "h")["consecutive_failures"] == 2


def test_a_fork_server_that_cannot_start_early_does_not_stop_the_poll(
    tmp_path, server, monkeypatch, capsys
):
    """Starting the workers early is an optimisation: if the system refuses it (no temporary
    directory for its socket, no more processes), the pass goes on and says so."""
    from monitor import cli
    from monitor.sources import workers

    def refused() -> None:
        raise OSError(11, "Resource temporarily unavailable")

    # Simulated: a refusal of fork or of a temporary directory cannot be staged here.
    monkeypatch.setattr(workers, "start_early", refused)
    server.routes["/feed.xml"] = etagged_swap
    config = one_feed(tmp_path, server.url("/feed.xml"))

    assert cli.main(["poll", "--once", "--config", str(config)]) == 0
    assert source(config, "f")["articles_total"] == 1
    assert "could not start the parse workers early" in capsys.readouterr().err


def test_parse_workers_are_used_for_large_feeds(tmp_path, server):
    items = [
        {"title": f"Story {i}", "link": f"http://127.0.0.1/s/{i}", "description": "words " * 200}
        for i in range(40)
    ]
    server.routes["/big.xml"] = rss(items)
    assert len(rss(items)) > 16 * 1024
    config = one_feed(tmp_path, server.url("/big.xml"))

    loaded = modules_loaded(
        ["poll", "--once", "--config", str(config)], {"fastfeedparser", "feedparser", "lxml"}
    )

    assert source(config, "f")["articles_total"] == 40
    assert loaded == set()  # parsed in a worker: the process that writes never loads a parser


def test_daemon_keeps_each_feeds_next_poll_across_a_restart(tmp_path, server):
    server.routes["/later.xml"] = (
        200,
        {"Content-Type": "application/rss+xml", "Cache-Control": "max-age=3600"},
        rss([SWAP]),
    )
    server.routes["/fresh.xml"] = rss([SWAP])
    config = write_config(
        tmp_path,
        "defaults: {interval: 1s}\n"
        + feeds_yaml(server, {"later": "/later.xml", "fresh": "/fresh.xml"}),
    )
    poll_once(config)  # "later" now asks not to be polled for an hour
    before = len(server.requests)

    daemon = start_daemon(config)
    try:
        deadline = time.monotonic() + 30
        fresh = lambda: [r for r in server.requests[before:] if r.path == "/fresh.xml"]  # noqa: E731
        while time.monotonic() < deadline and len(fresh()) < 2:
            time.sleep(0.1)
    finally:
        daemon.terminate()
        _, stderr = daemon.communicate(timeout=20)

    assert daemon.returncode == 0, stderr
    assert len(fresh()) >= 2  # the daemon ran and polled the other feed repeatedly
    assert [r for r in server.requests[before:] if r.path == "/later.xml"] == []


def test_fetch_limits_and_ranges_are_validated_with_key_paths(tmp_path):
    config = write_config(
        tmp_path,
        """
fetch: {max_bytes: lots, per_host: 0}
feeds: [{name: f, url: "http://127.0.0.1/feed.xml", min_interval: soon}]
""",
    )

    result = run_monitor("check-config", "--config", str(config))

    assert result.returncode == 2
    for key in ("fetch.max_bytes", "fetch.per_host", "feeds[0:f].min_interval"):
        assert key in result.stderr, result.stderr


def test_check_config_shows_each_feeds_adaptive_range(tmp_path):
    config = write_config(
        tmp_path,
        """
defaults: {interval: 10m, max_interval: 2h}
feeds: [{name: f, url: "http://127.0.0.1/feed.xml", min_interval: 2m}]
""",
    )

    result = run_monitor("check-config", "--config", str(config))

    assert result.returncode == 0, result.stderr
    assert "10m (2m-2h)" in result.stdout
