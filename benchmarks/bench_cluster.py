"""Cost of placing one article in its story as the log grows, against the naive approach.

The log is filled through the real path (``Stories.place`` → ``Store.insert_article`` →
``Stories.remember``, batches of 1,000 in one transaction, as a poll does) with synthetic
articles of about 300 words drawn from a Zipf vocabulary; every stored article stays inside the
story window, so all of them are in the LSH index (the worst case: pruning never helps). At
each checkpoint, 500 new articles (four in five unrelated, one in five a near copy of a stored
one) are placed and stored, 50 to a transaction as a feed poll does, and timed per article. Clustering time
is that of ``place`` and ``remember`` (signature, key and band look-ups, recording the story);
storing the article itself (row and full-text index) is shown beside it. The naive approach
computes the signature and compares it against every stored signature (one vectorised numpy comparison
over an N×128 matrix, the fastest form of it).

    python benchmarks/bench_cluster.py                  # checkpoints 1k, 10k, 100k
    python benchmarks/bench_cluster.py --max 10000      # a quicker run
    python benchmarks/bench_cluster.py --json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import StoryConfig  # noqa: E402
from monitor.dedupe import comparable_text, signature  # noqa: E402
from monitor.models import Article  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.stories import Stories  # noqa: E402

NOW = datetime.now(UTC)
VOCABULARY = [f"w{i}" for i in range(20_000)]
WEIGHTS = [1 / (rank + 1) for rank in range(len(VOCABULARY))]


def synthetic_text(rng: random.Random, words: int = 300) -> str:
    return " ".join(rng.choices(VOCABULARY, WEIGHTS, k=words))


def near_copy(text: str, rng: random.Random) -> str:
    """The same text with a tenth of its words changed and a short paragraph added."""
    tokens = text.split()
    for index in rng.sample(range(len(tokens)), len(tokens) // 30):
        tokens[index] = rng.choice(VOCABULARY)
    return " ".join(tokens) + " " + synthetic_text(rng, 25)


def article(number: int, text: str, rng: random.Random) -> Article:
    return Article(
        url=f"https://outlet{number % 97}.example.org/story/{number}",
        title=f"Story {number}",
        source=f"outlet{number % 97}",
        text=text,
        published=NOW - timedelta(minutes=rng.randrange(24 * 60)),
    )


def place_and_store(stories: Stories, item: Article) -> tuple[int, float]:
    """Store one article in its story; returns the story and the seconds spent clustering
    (placing and remembering; storing the article and its full-text index is not counted)."""
    began = time.perf_counter()
    placement = stories.place(item)
    clustering = time.perf_counter() - began
    article_id = stories.store.insert_article(item, story_id=placement.story_id)
    assert article_id is not None
    began = time.perf_counter()
    stories.remember(article_id, item, placement)
    return placement.story_id, clustering + time.perf_counter() - began


def checkpoint(
    stories: Stories, texts: list[str], matrix: np.ndarray, rng: random.Random, start: int
) -> dict[str, float]:
    """Time 500 new articles through ours and through the naive scan."""
    probes = [
        near_copy(rng.choice(texts), rng) if i % 5 == 0 else synthetic_text(rng) for i in range(500)
    ]
    existing = stories.store.db.execute("SELECT max(id) FROM stories").fetchone()[0]
    items = [article(start + offset, text, rng) for offset, text in enumerate(probes)]
    joined, clustering = 0, 0.0
    began = time.perf_counter()
    for batch in range(0, len(items), 50):  # one transaction per 50, as one feed poll
        with stories.store.atomic():
            for item in items[batch : batch + 50]:
                story, seconds = place_and_store(stories, item)
                joined += story <= existing
                clustering += seconds
    whole = (time.perf_counter() - began) / len(probes)
    ours = clustering / len(probes)
    sample = probes[:50]
    began = time.perf_counter()
    for text in sample:
        sig = signature(comparable_text(article(0, text, rng)))
        assert sig is not None
        best = int(np.max(np.count_nonzero(matrix == sig, axis=1)))
        del best
    naive = (time.perf_counter() - began) / len(sample)
    return {
        "ours_ms": ours * 1000,
        "ingest_ms": whole * 1000,
        "naive_ms": naive * 1000,
        "near_copies_joined": joined,
    }


def run(limit: int) -> list[dict[str, float]]:
    rng = random.Random(8)
    marks = [m for m in (1_000, 10_000, 100_000) if m <= limit] or [limit]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.db")
        stories = Stories(store, StoryConfig())
        texts: list[str] = []
        signatures: list[np.ndarray] = []
        fill_began = time.perf_counter()
        number = 0
        for mark in marks:
            while number < mark:
                with store.atomic():
                    for _ in range(min(1000, mark - number)):
                        text = synthetic_text(rng)
                        texts.append(text)
                        place_and_store(stories, article(number, text, rng))
                        sig = signature(comparable_text(article(0, text, rng)))
                        assert sig is not None
                        signatures.append(sig)
                        number += 1
            fill = time.perf_counter() - fill_began
            matrix = np.vstack(signatures)
            row = {"stored": mark, **checkpoint(stories, texts, matrix, rng, 10_000_000 + mark)}
            row["fill_per_article_ms"] = fill / mark * 1000
            row["band_rows"] = store.db.execute(
                "SELECT coalesce(sum(length(bands)), 0) / 8 FROM story_signatures"
            ).fetchone()[0]
            row["db_mb"] = (Path(folder) / "bench.db").stat().st_size / 1e6
            # What a process starting on this log pays once, on its first new article.
            fresh = Stories(store, StoryConfig())
            load_began = time.perf_counter()
            index = fresh.refresh()
            row["index_load_s"] = time.perf_counter() - load_began
            row["index_mb"] = index.nbytes / 1e6
            results.append(row)
            print(_line(row), file=sys.stderr, flush=True)
        store.close()
    return results


def _line(row: dict[str, float]) -> str:
    return (
        f"{row['stored']:>7,} stored: clustering {row['ours_ms']:.2f} ms/article"
        f" (whole store {row['ingest_ms']:.2f})"
        f" ({row['near_copies_joined']}/100 near copies joined), naive scan"
        f" {row['naive_ms']:.2f} ms/article; {row['band_rows']:,} band keys"
        f" (loaded in {row['index_load_s']:.2f} s, {row['index_mb']:.0f} MB in memory),"
        f" {row['db_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=100_000, help="largest log size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.max)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
