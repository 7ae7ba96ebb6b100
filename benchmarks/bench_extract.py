"""Extraction throughput (pages/s) and quality over the real pages in ../shared/corpora.

Pages: newspaper-articles (with expected body texts), trafilatura-pages, fundus-news (with
expected title, date and authors). Two trafilatura modes: the default (with its fallback
extractors) and ``fast`` (no fallbacks). Quality: median token recall and precision of the
extracted text against newspaper's expected bodies; share of fundus pages whose extracted
title, date and first author match the expectation. One process, one core.

    python benchmarks/bench_extract.py
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPORA = REPO.parent / "shared" / "corpora"
NEWSPAPER = CORPORA / "newspaper-articles/tests/data"
TRAFILATURA = CORPORA / "trafilatura-pages/tests/cache"
FUNDUS = CORPORA / "fundus-news/tests/resources/parser/test_data"


def pages() -> list[tuple[str, bytes, dict[str, Any]]]:
    """(corpus, html, expectation) for every page."""
    out: list[tuple[str, bytes, dict[str, Any]]] = []
    for html in sorted((NEWSPAPER / "html").glob("*.html")):
        text = NEWSPAPER / "text" / f"{html.stem}.txt"
        expected = {"text": text.read_text(errors="replace")} if text.exists() else {}
        out.append(("newspaper-articles", html.read_bytes(), expected))
    for html in sorted(TRAFILATURA.glob("*.html")):
        out.append(("trafilatura-pages", html.read_bytes(), {}))
    for country in ("us", "uk"):
        for snapshot in sorted((FUNDUS / country).glob("*.html.gz")):
            truth = json.loads(
                (FUNDUS / country / f"{snapshot.name.split('_')[0]}.json").read_text()
            )
            out.append(("fundus-news", gzip.decompress(snapshot.read_bytes()), {"fundus": truth}))
    return out


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def run(corpus: list[tuple[str, bytes, dict[str, Any]]], fast: bool) -> dict[str, Any]:
    from monitor.extract import extract_article

    recalls, precisions, hits = [], [], {"title": 0, "date": 0, "author": 0, "fundus": 0}
    start = time.perf_counter()
    results = [
        extract_article(html, "https://example.org/a", "bench", fast=fast) for _, html, _ in corpus
    ]
    elapsed = time.perf_counter() - start
    for (_, _, expected), article in zip(corpus, results, strict=True):
        if "text" in expected:
            want, got = words(expected["text"]), words(article.text if article else "")
            recalls.append(len(want & got) / max(1, len(want)))
            precisions.append(len(want & got) / max(1, len(got)))
        if "fundus" in expected:
            versions = expected["fundus"].values()
            hits["fundus"] += 1
            if article and article.title in {v.get("title") for v in versions}:
                hits["title"] += 1
            dates = {(v.get("publishing_date") or "")[:10] for v in versions}
            if article and article.published and article.published.date().isoformat() in dates:
                hits["date"] += 1
            first = (article.author or "").split(";")[0].strip().lower() if article else ""
            if first and any(first in str(v.get("authors")).lower() for v in versions):
                hits["author"] += 1
    return {
        "pages": len(corpus),
        "seconds": elapsed,
        "extracted": sum(a is not None for a in results),
        "recall": _median_mean(recalls),
        "precision": _median_mean(precisions),
        **hits,
    }


def main() -> int:
    corpus = pages()
    from monitor.extract import extract_article

    extract_article(corpus[0][1], "https://example.org/a", "warm-up")  # imports, language model
    print(f"{len(corpus)} pages, {sum(len(p[1]) for p in corpus) / 1e6:.1f} MB of HTML")
    print(
        "| pages | mode | pages/s | ms/page | articles found | text recall / precision, median (mean)"
        " | fundus title / date / author |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for fast in (False, True):
        print(row("all", corpus, fast))
    for name in ("newspaper-articles", "trafilatura-pages", "fundus-news"):
        print(row(name, [p for p in corpus if p[0] == name], False))
    return 0


def _median_mean(values: list[float]) -> str:
    if not values:
        return ""
    return f"{statistics.median(values):.2f} ({statistics.mean(values):.2f})"


def row(name: str, corpus: list[tuple[str, bytes, dict[str, Any]]], fast: bool) -> str:
    r = run(corpus, fast)
    n, f = r["pages"], r["fundus"]
    quality = f"{r['recall']} / {r['precision']}" if r["recall"] else "–"
    fundus = f"{r['title']}/{f} · {r['date']}/{f} · {r['author']}/{f}" if f else "–"
    size = sum(len(p[1]) for p in corpus) / n / 1000
    return (
        f"| {name} ({n}, {size:.0f} KB avg) | {'fast' if fast else 'default'}"
        f" | {n / r['seconds']:.1f} | {1000 * r['seconds'] / n:.0f} | {r['extracted']}/{n}"
        f" | {quality} | {fundus} |"
    )


if __name__ == "__main__":
    sys.exit(main())
