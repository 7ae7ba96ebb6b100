"""Housekeeping on a log of many articles: how long the daemon's loop is held, and backup speed.

Pruning runs on the daemon's event loop, so what matters is the longest single transaction (the
loop's longest stall), not the total. The naive approach is one UPDATE over every old unmatched
article; newsmonitor prunes in batches of 500 and yields to the loop between them.

    python benchmarks/bench_housekeeping.py                 # 20,000 articles of ~2 KB
    python benchmarks/bench_housekeeping.py --articles 100000 --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.housekeeping import PRUNE_BATCH  # noqa: E402
from monitor.models import Article, Classification  # noqa: E402
from monitor.store import Store, utcnow  # noqa: E402

WORDS = [
    "minister",
    "talks",
    "summit",
    "ceasefire",
    "storm",
    "market",
    "league",
    "council",
    "report",
    "growth",
    "election",
    "court",
    "festival",
    "harbour",
    "railway",
    "museum",
    "budget",
    "envoy",
    "treaty",
    "villagers",
    "harvest",
]


def build_log(path: Path, articles: int) -> None:
    """Half the articles are 60 days old; one in a hundred matched a topic."""
    store = Store(path)
    old, recent = utcnow() - timedelta(days=60), utcnow()
    matched = Classification(topics=["diplomacy"], scores={"diplomacy": 1.0})
    with store.atomic():
        for i in range(articles):
            text = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(300))
            article = Article(url=f"https://x.org/{i}", title=f"Story {i}", source="s", text=text)
            article_id = store.insert_article(article, old if i % 2 else recent)
            if article_id and i % 100 == 0:
                store.record_matches(article_id, matched)
    store.close()


def prune_batched(path: Path) -> list[float]:
    store = Store(path)
    cutoff, stalls = utcnow() - timedelta(days=30), []
    while True:
        start = time.perf_counter()
        pruned = store.prune_unmatched_text(cutoff, PRUNE_BATCH)
        stalls.append(time.perf_counter() - start)
        if not pruned:
            break
    store.close()
    return stalls


def prune_at_once(path: Path) -> float:
    store = Store(path)
    start = time.perf_counter()
    store.prune_unmatched_text(utcnow() - timedelta(days=30), batch=10**9)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base.db"
        build_log(base, args.articles)
        naive, batched = Path(scratch) / "naive.db", Path(scratch) / "batched.db"
        shutil.copy(base, naive)
        shutil.copy(base, batched)
        at_once = prune_at_once(naive)
        stalls = prune_batched(batched)
        store = Store(batched)
        optimize = timed(store.optimize_fts)
        backup = timed(lambda: store.backup(Path(scratch) / "copy.db"))
        store.close()
        result = {
            "articles": args.articles,
            "database_mb": round(base.stat().st_size / 1e6, 1),
            "naive_single_update_stall_s": round(at_once, 3),
            "batched_longest_stall_s": round(max(stalls), 3),
            "batched_median_stall_s": round(statistics.median(stalls), 4),
            "batched_total_s": round(sum(stalls), 3),
            "batches": len(stalls),
            "fts_optimize_s": round(optimize, 3),
            "backup_s": round(backup, 3),
            "backup_mb": round((Path(scratch) / "copy.db").stat().st_size / 1e6, 1),
        }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['articles']:,} articles, {result['database_mb']} MB log")
    print(
        f"prune old unmatched text: one UPDATE holds the loop {result['naive_single_update_stall_s']} s;"
        f" batches of {PRUNE_BATCH} hold it at most {result['batched_longest_stall_s']} s"
        f" (median {result['batched_median_stall_s']} s, {result['batches']} batches,"
        f" {result['batched_total_s']} s in all)"
    )
    print(
        f"FTS optimise {result['fts_optimize_s']} s; online backup {result['backup_s']} s"
        f" ({result['backup_mb']} MB)"
    )


if __name__ == "__main__":
    main()
