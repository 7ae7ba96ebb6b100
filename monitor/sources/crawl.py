"""Run one spider crawl in a child process and stream its articles back into the pipeline.

    daemon / `monitor crawl`                      child: python -m monitor.sources.crawl_worker
    ------------------------                      ---------------------------------------------
    run_crawl ── job (JSON on stdin) ──────────▶  Scrapy CrawlerProcess: spider → extraction
              ◀── one JSON line per event ──────  {"event": "article", "article": {...}}
    ingest(articles): store → classify → alert    {"event": "done", "stats": {...}}

Why a child per crawl: Scrapy runs on Twisted, which the daemon (asyncio + httpx) never
imports; a crawl's memory is returned to the system when it ends, so fifty crawls cost the
daemon nothing (README, "Spiders", has the measurements); a crawl that hangs or crashes is
killed without touching the daemon; and the daemon stays the only writer of the database —
the child opens it read-only, to skip article pages that are stored already.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Config, SpiderConfig
from monitor.errors import FetchError
from monitor.models import Article, IngestReport
from monitor.sources.crawl_protocol import article_from_event, crawl_job

log = logging.getLogger(__name__)

KILL_GRACE = 30.0  # beyond the spider's own timeout, which closes it cleanly
STDERR_TAIL = 30
MAX_EVENT_BYTES = 32 * 1024 * 1024

Ingest = Callable[[Sequence[Article]], IngestReport]


# -- the parent side ---------------------------------------------------------------------------


@dataclass
class CrawlReport:
    """What one crawl did."""

    pages: int = 0
    known_skipped: int = 0
    robots_forbidden: int = 0
    articles: int = 0
    error: str | None = None
    ingest: IngestReport = field(default_factory=IngestReport)

    @classmethod
    def from_stats(cls, stats: dict[str, Any], error: str | None) -> CrawlReport:
        return cls(
            pages=int(stats.get("downloader/response_count", 0)),
            known_skipped=int(stats.get("newsmonitor/known_skipped", 0)),
            robots_forbidden=int(stats.get("robotstxt/forbidden", 0)),
            articles=int(stats.get("item_scraped_count", 0)),
            error=error,
        )


async def run_crawl(
    spider: SpiderConfig, config: Config, ingest: Ingest, verbose: bool = False
) -> CrawlReport:
    """Crawl once in a child process, ingesting each article as it arrives.

    FetchError when the crawl could not run or its start URL failed (articles that did arrive
    are ingested all the same); the child is killed if it outlives the spider's timeout.
    """
    job = crawl_job(spider, config, "INFO" if verbose else "WARNING")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor.sources.crawl_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=MAX_EVENT_BYTES,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        return await asyncio.wait_for(
            _converse(proc, job, ingest, spider.name),
            timeout=spider.options.timeout.total_seconds() + KILL_GRACE,
        )
    except TimeoutError:
        raise FetchError(f"crawl did not finish within {spider.options.timeout}") from None
    finally:
        await _reap(proc)


async def _converse(
    proc: asyncio.subprocess.Process, job: dict[str, Any], ingest: Ingest, name: str
) -> CrawlReport:
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(json.dumps(job).encode())
    await proc.stdin.drain()
    proc.stdin.close()
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
    stderr_task = asyncio.create_task(_relay_stderr(proc.stderr, tail, name))
    ingested = IngestReport()
    report: CrawlReport | None = None
    try:
        async for line in proc.stdout:
            event = _decode(line, name)
            if event is None:
                continue
            if event.get("event") == "article":
                ingested += ingest([article_from_event(event["article"])])
            elif event.get("event") == "done":
                report = CrawlReport.from_stats(event.get("stats") or {}, event.get("error"))
        status = await proc.wait()
        await stderr_task
    except (ValueError, TypeError, KeyError) as exc:  # an oversized or malformed event
        raise FetchError(f"crawl worker sent a bad event: {exc}") from exc
    finally:
        stderr_task.cancel()
    if report is None:
        last = " | ".join(list(tail)[-3:]) or "no output"
        raise FetchError(f"crawl worker exited with status {status}: {last}")
    report.ingest = ingested
    return report


def _decode(line: bytes, name: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        log.warning("spider %s: not a worker event: %r", name, line[:200])
        return None
    return event if isinstance(event, dict) else None


async def _relay_stderr(
    stream: asyncio.StreamReader, tail: collections.deque[str], name: str
) -> None:
    """Scrapy's log lines go to our log; the last few explain a crash."""
    async for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            tail.append(line)
            log.info("spider %s: %s", name, line)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Make sure the child is gone: asked first (Scrapy closes cleanly), then killed."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout=5)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
