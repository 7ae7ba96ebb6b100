"""Fifty scheduled crawls, two ways: a child process per crawl (what the daemon does) against
Scrapy in the daemon's own process (``AsyncCrawlerRunner`` on Twisted's asyncio reactor).

Each crawl reads robots.txt and a news sitemap that lists five new articles (real pages from
../shared/corpora/newspaper-articles) and ingests them through the pipeline into SQLite.
Reported per mode: crawl latency (median, p95), the long-running process's RSS after the
first and the fiftieth crawl, and the peak RSS of a crawl child. Each mode runs in a fresh
interpreter so that neither sees the other's memory.

    python benchmarks/bench_crawl.py [--crawls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PAGES = sorted((REPO.parent / "shared/corpora/newspaper-articles/tests/data/html").glob("*.html"))
PER_CRAWL = 5


class Site:
    """robots.txt, /sitemap.xml listing the current crawl's five articles, and the articles."""

    def __init__(self) -> None:
        self.crawl = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                status, kind, body = site.reply(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reply(self, path: str) -> tuple[int, str, bytes]:
        if path == "/robots.txt":
            return 200, "text/plain", f"User-agent: *\nSitemap: {self.base}/sitemap.xml\n".encode()
        if path == "/sitemap.xml":
            now = datetime.now(UTC).isoformat(timespec="seconds")
            urls = "".join(
                f"<url><loc>{self.base}/news/{self.crawl}-{i}.html</loc><news:news>"
                f"<news:publication_date>{now}</news:publication_date></news:news></url>"
                for i in range(PER_CRAWL)
            )
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><urlset'
                ' xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
                f' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
            )
            return 200, "application/xml", body.encode()
        if path.startswith("/news/"):
            crawl, index = path.removeprefix("/news/").removesuffix(".html").split("-")
            page = PAGES[(int(crawl) * PER_CRAWL + int(index)) % len(PAGES)]
            return 200, "text/html", page.read_bytes()
        return 404, "text/plain", b"not found"


def write_config(directory: Path, site: Site) -> Path:
    import yaml

    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    spider = {
        "name": "bench",
        "spider": "news_sitemap",
        "url": f"{site.base}/robots.txt",
        "download_delay": "0.01s",
        "autothrottle_start_delay": "0.01s",
    }
    config = {
        "database": str(directory / "bench.db"),
        "spiders": [spider],
        "topics": shipped["topics"],
    }
    path = directory / "config.yaml"
    path.write_text(json.dumps(config))
    return path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_child_mode(config_path: Path, site: Site, crawls: int) -> dict[str, Any]:
    from monitor.config import load_config
    from monitor.service import Service

    config = load_config(config_path)
    latencies, rss, stored = [], [], 0

    async def main() -> None:
        nonlocal stored
        async with Service(config) as service:
            for n in range(crawls):
                site.crawl = n
                start = time.perf_counter()
                report = await service.crawl_spider(config.spiders[0])
                latencies.append(time.perf_counter() - start)
                rss.append(rss_mb())
                stored += report.new if report else 0

    asyncio.run(main())
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"latencies": latencies, "rss": rss, "child_peak_mb": child_peak, "stored": stored}


def run_inprocess_mode(config_path: Path, site: Site, crawls: int) -> dict[str, Any]:
    from scrapy.crawler import AsyncCrawlerRunner
    from scrapy.settings import Settings
    from scrapy.utils.defer import deferred_f_from_coro_f
    from scrapy.utils.reactor import install_reactor
    from twisted.internet.task import react

    from monitor.config import load_config
    from monitor.sources.crawl_protocol import crawl_job
    from monitor.sources.crawl_worker import project_settings_module

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    config = load_config(config_path)
    job = crawl_job(config.spiders[0], config)
    settings = Settings()
    settings.setmodule(project_settings_module(), priority="project")
    settings.update(job["settings"], priority="cmdline")
    settings.set("MONITOR_DATABASE", job["database"], priority="cmdline")
    settings.set("MONITOR_CONFIG", str(config_path), priority="cmdline")  # ingest in-process
    latencies: list[float] = []
    rss: list[float] = []

    @deferred_f_from_coro_f
    async def main(reactor: Any) -> None:
        runner = AsyncCrawlerRunner(settings)
        spider_cls = runner.spider_loader.load("news_sitemap")
        for n in range(crawls):
            site.crawl = n
            start = time.perf_counter()
            await runner.crawl(spider_cls, source="bench", options=job["options"])
            latencies.append(time.perf_counter() - start)
            rss.append(rss_mb())

    with contextlib.suppress(SystemExit):  # react() exits the process when main is done
        react(main)

    stored = sqlite3.connect(config.database).execute("SELECT count(*) FROM articles").fetchone()[0]
    return {"latencies": latencies, "rss": rss, "child_peak_mb": 0.0, "stored": stored}


def measure(mode: str, crawls: int) -> dict[str, Any]:
    """Run one mode in this process (called in a fresh interpreter by ``main``)."""
    site = Site()
    with tempfile.TemporaryDirectory() as tmp:
        config_path = write_config(Path(tmp), site)
        runner = run_child_mode if mode == "child" else run_inprocess_mode
        start_rss = rss_mb()
        result = runner(config_path, site, crawls)
    result["start_rss"] = start_rss
    return result


def summary(mode: str, r: dict[str, Any]) -> str:
    lat = sorted(r["latencies"])
    p95 = lat[max(0, int(len(lat) * 0.95) - 1)]
    return (
        f"| {mode} | {len(lat)} | {r['stored']} | {statistics.median(lat):.2f} s | {p95:.2f} s"
        f" | {r['rss'][0]:.0f} MB | {r['rss'][-1]:.0f} MB | {r['rss'][-1] - r['rss'][0]:+.0f} MB"
        f" | {r['child_peak_mb']:.0f} MB |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crawls", type=int, default=50)
    parser.add_argument("--mode", choices=["child", "inprocess"])
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.crawls)))
        return 0
    print(f"{args.crawls} crawls of {PER_CRAWL} new articles each (robots.txt + sitemap + pages)")
    print(
        "| mode | crawls | articles stored | latency median | latency p95 | daemon RSS after 1st"
        " | after last | growth | crawl child peak RSS |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode in ("child", "inprocess"):
        out = subprocess.run(
            [sys.executable, __file__, "--mode", mode, "--crawls", str(args.crawls)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
        print(summary(mode, json.loads(out.stdout.strip().splitlines()[-1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
