"""The child process of one crawl: ``python -m monitor.sources.crawl_worker < job.json``.

Reads a job (see ``crawl.crawl_job``) on stdin, runs the spider with Scrapy's CrawlerProcess
and writes one JSON line per event to its stdout; everything else Scrapy or a library prints
goes to stderr, so nothing can corrupt the stream. Exits 0 when the crawl ran (even if its
start URL failed: that is reported in the ``done`` event), 1 when it could not run at all.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from types import ModuleType
from typing import Any, TextIO

from monitor.sources.crawl_protocol import done_event

PROJECT_PACKAGES = ("spiders.newsmonitor_spiders", "newsmonitor_spiders")


def project_settings_module() -> ModuleType:
    """The Scrapy project's settings, whether installed as ``spiders`` or run from its folder."""
    for package in PROJECT_PACKAGES:
        try:
            return importlib.import_module(f"{package}.settings")
        except ModuleNotFoundError:
            continue
    raise SystemExit("the Scrapy project (spiders/newsmonitor_spiders) is not importable")


def private_stdout() -> tuple[TextIO, int]:
    """A stream on the real stdout for events only; fd 1 itself now points at stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1, closefd=False), fd


def crawl(job: dict[str, Any], events: TextIO, fd: int) -> None:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule(project_settings_module(), priority="project")
    settings.update(job["settings"], priority="cmdline")
    settings.set("MONITOR_DATABASE", job.get("database"), priority="cmdline")
    settings.set("MONITOR_EVENTS_FD", fd, priority="cmdline")
    process = CrawlerProcess(settings)
    spider_cls = process.spider_loader.load(job["spider"])
    crawler = process.create_crawler(spider_cls)
    process.crawl(crawler, source=job["name"], options=job["options"])
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    events.write(done_event(stats, stats.get("newsmonitor/error")) + "\n")
    events.flush()


def main() -> int:
    events, fd = private_stdout()
    try:
        job = json.loads(sys.stdin.read())
    except ValueError as exc:
        print(f"crawl worker: the job is not JSON: {exc}", file=sys.stderr)
        return 1
    crawl(job, events, fd)
    return 0


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    # Scrapy has closed and the last event is flushed: skip the interpreter's teardown of a
    # heap full of parsed pages (about a second), which the daemon would otherwise wait for.
    os._exit(status)
