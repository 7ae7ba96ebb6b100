"""Poll N loopback feeds with ``monitor poll --once`` versus a naive ``feedparser.parse(url)`` loop.

Serves N feeds of M items each from a separate process on 127.0.0.1 (gzip when asked, ETag and
Last-Modified, 304 on a match), then measures, each in a fresh child process:

* cold: ``monitor poll --once`` on an empty database (fetch, parse, classify, store everything);
* warm: the same command again, nothing changed (conditional GETs answered 304);
* naive: ``for url in urls: feedparser.parse(url)``, run beside each (it has no notion of warm);
* collection only: the fetch + parse layer without classifying or storing, for comparison;
* start-up: ``monitor poll --once`` with no feeds (imports, config, database);

with the peak RSS and the CPU time of each child and its descendants (the parse workers and
their fork server), sampled from /proc every 50 ms.
Each pass and its naive loop run ``--repeat`` times, one after the other, and the best time of
each is reported (a cold pass starts from an empty database every time): on a shared 2-core
machine a single run of either can be a second or two slower than the next.

    python benchmarks/bench_poll.py [--feeds 500] [--items 30] [--per-host 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import hashlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from random import Random
from xml.sax.saxutils import escape

import yaml

REPO = Path(__file__).resolve().parents[1]
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WORDS = [
    "minister",
    "talks",
    "envoy",
    "summit",
    "ceasefire",
    "government",
    "exchange",
    "prisoners",
    "agreement",
    "border",
    "trade",
    "election",
    "court",
    "market",
    "energy",
    "climate",
    "storm",
    "football",
    "season",
    "festival",
    "museum",
    "science",
    "report",
    "council",
    "union",
    "capital",
    "province",
    "delegation",
    "ministry",
    "spokesman",
    "officials",
]


def feed_document(index: int, items: int, rng: Random) -> bytes:
    """An RSS 2.0 feed like a news site's: titles, HTML descriptions, dates, guids."""
    now = datetime.now(UTC)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
        f"<title>Outlet {index}</title><link>https://outlet{index}.example/</link>",
        "<description>World news</description>",
    ]
    for n in range(items):
        title = " ".join(rng.choice(WORDS) for _ in range(9)).capitalize()
        body = " ".join(rng.choice(WORDS) for _ in range(70))
        link = f"https://outlet{index}.example/world/{n}-{rng.randrange(10**9)}.html"
        when = format_datetime(now - timedelta(minutes=17 * n + index % 60), usegmt=True)
        html = f'<p>{body}.</p><p><a href="{link}">More</a></p>'
        parts.append(
            f"<item><title>{escape(title)}</title><link>{link}</link><guid>{link}</guid>"
            f"<description>{escape(html)}</description><pubDate>{when}</pubDate></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def serve(feeds: int, items: int, port_out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """The loopback feed server (runs in its own process so it does not share our GIL)."""
    rng = Random(6)
    bodies = [feed_document(i, items, rng) for i in range(feeds)]
    zipped = [gzip.compress(b, 6) for b in bodies]
    etags = [f'"{hashlib.sha1(b).hexdigest()[:16]}"' for b in bodies]
    modified = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # As real servers do: without it, headers and body in two writes meet the client's
        # delayed ACK on a kept-alive connection and every answer waits 40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802
            index = int(self.path.strip("/").split(".")[0].removeprefix("feed"))
            if self.headers.get("If-None-Match") == etags[index]:
                self.send_response(304)
                self.send_header("ETag", etags[index])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            use_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
            body = zipped[index] if use_gzip else bodies[index]
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("ETag", etags[index])
            self.send_header("Last-Modified", modified)
            if use_gzip:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    port_out.put((httpd.server_address[1], sum(map(len, bodies)), sum(map(len, zipped))))
    httpd.serve_forever()


# -- measuring a child process tree ----------------------------------------------------------


def tree_usage(root: int) -> tuple[int, dict[int, float]]:
    """Resident memory (KiB) of ``root`` and all its descendants, and the CPU seconds each of
    them has used so far, from /proc."""
    rss, cpu = 0, {}
    for pid in _family(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        except (OSError, ValueError, IndexError):
            continue
    return rss, cpu


def _family(root: int) -> set[int]:
    """``root`` and its descendants, from each thread's ``children`` file: a few reads, where
    scanning all of /proc took 2-3 ms of CPU a sample, which a pass using both cores lost."""
    family, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
                return _family_by_scan(root)
            except OSError:
                continue
            for child in map(int, children):
                if child not in family:
                    family.add(child)
                    frontier.append(child)
    return family


def _family_by_scan(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    family, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in family:
                family.add(pid)
                frontier.append(pid)
    return family


@dataclass
class Run:
    seconds: float
    peak_mb: float
    output: str
    cpu_seconds: float = 0.0  # of the whole process tree, sampled (the last 50 ms missed)


def measure(argv: list[str]) -> Run:
    """Wall time, CPU time and peak tree RSS of one child process and its descendants."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO
    )
    peak = [0]
    cpu: dict[int, float] = {}

    def sample() -> None:
        while child.poll() is None:
            rss, used = tree_usage(child.pid)
            peak[0] = max(peak[0], rss)
            cpu.update(used)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = child.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({child.returncode}):\n{output[-3000:]}")
    last = output.strip().splitlines()[-1] if output else ""
    return Run(seconds, peak[0] / 1024, last, sum(cpu.values()))


# The collection layer alone (fetch + parse + normalise, no classify/store), for comparison.
COLLECT = """
import asyncio, sys
from monitor.sources.feeds import FeedPoller
from monitor.sources.http import FetchLimits, Validators, build_client

async def main(urls):
    limits = FetchLimits()
    async with build_client("newsmonitor-bench/1.0", 16, limits) as client:
        poller = FeedPoller(client, limits, per_host=int(sys.argv[1]), concurrency=16)
        try:
            results = await asyncio.gather(
                *(poller.poll(url, "bench", Validators(), None) for url in urls)
            )
        finally:
            poller.close()
    print(f"{len(urls)} feeds, {sum(len(r.articles) for r in results)} articles")

asyncio.run(main(sys.argv[2:]))
"""

NAIVE = """
import sys, feedparser
urls = sys.argv[1:]
entries = sum(len(feedparser.parse(url).entries) for url in urls)
print(f"{len(urls)} feeds, {entries} entries")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--per-host", type=int, default=None, help="fetch.per_host (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()

    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(
        target=serve, args=(args.feeds, args.items, ports), daemon=True
    )
    server.start()
    port, raw, zipped = ports.get(timeout=120)
    urls = [f"http://127.0.0.1:{port}/feed{i}.xml" for i in range(args.feeds)]
    print(
        f"{args.feeds} feeds x {args.items} items on 127.0.0.1:{port}:"
        f" {raw / 2**20:.1f} MiB of XML ({zipped / 2**20:.1f} MiB gzipped)"
    )
    # Bytecode as an installed package has it: under PYTHONDONTWRITEBYTECODE every child would
    # otherwise compile all of monitor/ again, about 70 ms of each start-up.
    compileall.compile_dir(REPO / "monitor", quiet=1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), urls, args.per_host)
            poll = [sys.executable, "-m", "monitor", "poll", "--once", "--config", str(config)]
            naive = [sys.executable, "-c", NAIVE, *urls]
            collect = [sys.executable, "-c", COLLECT, str(args.per_host or 4), *urls]
            empty = write_config(Path(tmp) / "empty", [], args.per_host)
            start_up = best([measure([*poll[:-1], str(empty)]) for _ in range(args.repeat)])
            database = Path(tmp) / "bench.db"

            def cold() -> Run:
                for stale in database.parent.glob(database.name + "*"):
                    stale.unlink()
                return measure(poll)

            results = {
                "cold": repeated(args.repeat, cold, lambda: measure(naive)),
                "warm": repeated(args.repeat, lambda: measure(poll), lambda: measure(naive)),
                "collection only": repeated(
                    args.repeat, lambda: measure(collect), lambda: measure(naive)
                ),
            }
    finally:
        server.terminate()
    report(results)
    print(f"start-up alone (`monitor poll --once`, no feeds): {start_up.seconds:.2f} s")


def repeated(times: int, ours: Callable[[], Run], naive: Callable[[], Run]) -> tuple[Run, Run]:
    """Each of the two ``times`` times, alternately; the best of each."""
    runs = [(ours(), naive()) for _ in range(times)]
    return best([o for o, _ in runs]), best([n for _, n in runs])


def best(runs: list[Run]) -> Run:
    """The fastest run, with the highest peak memory of them all."""
    fastest = min(runs, key=lambda run: run.seconds)
    peak = max(run.peak_mb for run in runs)
    return Run(fastest.seconds, peak, fastest.output, fastest.cpu_seconds)


def write_config(directory: Path, urls: list[str], per_host: int | None) -> Path:
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    config = {
        "database": str(directory / "bench.db"),
        "user_agent": "newsmonitor-bench/1.0",
        "feeds": [{"name": f"feed{i}", "url": url} for i, url in enumerate(urls)],
        "topics": shipped["topics"],
    }
    if per_host:
        config["fetch"] = {"per_host": per_host}
    directory.mkdir(exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def report(results: dict[str, tuple[Run, Run]]) -> None:
    print()
    print("| pass | `monitor poll --once` | naive `feedparser.parse(url)` loop | ratio |")
    print("| --- | --- | --- | --- |")
    for name, (ours, naive) in results.items():
        print(
            f"| {name} | {ours.seconds:.2f} s ({ours.cpu_seconds:.1f} CPU-s),"
            f" peak {ours.peak_mb:.0f} MB"
            f" | {naive.seconds:.2f} s ({naive.cpu_seconds:.1f} CPU-s),"
            f" peak {naive.peak_mb:.0f} MB"
            f" | {ours.seconds / naive.seconds:.2f}x |"
        )
    print()
    for name, (ours, naive) in results.items():
        print(f"{name}: monitor: {ours.output}")
        print(f"{name}: naive:   {naive.output}")


if __name__ == "__main__":
    main()
