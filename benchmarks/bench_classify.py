"""Classify ~3 KB articles with the shipped rules and compare with a naive baseline.

The baseline is what one would write first: one compiled, case-insensitive regex per keyword
of the shipped rules (``\\bprisoner\\w*\\s+(?:swap|exchange)\\w*\\b``), each searched over the
article. It only finds keywords (no entities, no proximity, no scoring), so it is a lower bound
on a regex classifier's work.

    python benchmarks/bench_classify.py            # articles/s for both, and the ratio
    python benchmarks/bench_classify.py --json     # the same as one JSON object
    python benchmarks/bench_classify.py --corpus ../shared/data/devset.jsonl
                                                   # real excerpts joined into ~3 KB articles
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.classify import Classifier, default_rules  # noqa: E402
from monitor.classify.rules import TopicRules  # noqa: E402

PARAGRAPHS = [
    "Russia and the United States carried out a prisoner exchange in Abu Dhabi on Thursday, the "
    "Kremlin said. An American teacher held in Moscow was released in return for a Russian "
    "national jailed in the US.",
    "Foreign Minister Sergey Lavrov said the swap followed months of talks mediated by the United "
    "Arab Emirates, and the State Department thanked the Emirati envoy for his diplomacy.",
    "The Lakers traded their veteran guard to the Nets in exchange for two second-round draft "
    "picks, the team's president said ahead of the NBA trade deadline.",
    "The dollar rose against the euro on foreign exchange markets after the central bank "
    "extended its currency swap arrangement with partner banks, traders said.",
    "Forecasters warned of flooding as a storm brought heavy rain and gusts of 90 km/h to the "
    "coast, and schools in three counties closed for the day.",
    "Ceasefire negotiations between the warring parties resumed in Jeddah under Saudi and US "
    "mediation, with the African Union's envoy joining the talks for the first time.",
]


def articles(count: int, size: int = 3000) -> list[tuple[str, str]]:
    """``count`` distinct articles of about ``size`` characters, mixing topics and look-alikes."""
    out = []
    for i in range(count):
        parts, length, j = [], 0, i
        while length < size:
            paragraph = PARAGRAPHS[j % len(PARAGRAPHS)]
            parts.append(paragraph)
            length += len(paragraph) + 1
            j += i % 5 + 1
        out.append((f"Story {i}: {PARAGRAPHS[i % len(PARAGRAPHS)][:60]}", "\n".join(parts)))
    return out


def corpus_articles(path: Path, size: int = 3000) -> list[tuple[str, str]]:
    """Real excerpts (JSON Lines with title and text) joined into articles of ``size`` chars."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    out = []
    for i, row in enumerate(rows):
        parts, j = [], i
        while sum(len(p) + 1 for p in parts) < size:
            parts.append(str(rows[j % len(rows)].get("text", "")))
            j += 7
        out.append((str(row.get("title", "")), "\n".join(parts)[: size + 100]))
    return out


def rule_terms(rules: dict[str, TopicRules]) -> list[str]:
    terms: list[str] = []
    for topic in rules.values():
        for s in topic.signals:
            terms += (s.any or []) + (s.near or []) + (s.to or [])
        for x in topic.exclude:
            terms += x.any
        terms += topic.ignore
        terms += topic.require.any if topic.require else []
    return list(dict.fromkeys(terms))


def naive_regex(term: str) -> str:
    """The regex one would write by hand for a term: each word as a stem with any ending."""
    words = []
    for slot in term.lower().replace("-", " ").split():
        stems = [re.escape(w.strip("=*")) for w in slot.split("|")]
        words.append(rf"(?:{'|'.join(stems)})\w*")
    return r"\b" + r"\s+".join(words) + r"\b"


def naive_baseline(rules: dict[str, TopicRules]) -> list[re.Pattern[str]]:
    """One case-insensitive regex per keyword of the shipped rules."""
    return [re.compile(naive_regex(term), re.IGNORECASE) for term in rule_terms(rules)]


def rate(func, docs: list[tuple[str, str]], seconds: float) -> float:
    """Articles per second of CPU time for ``func(title, text)``: the best of several rounds
    over ``docs`` for about ``seconds`` in all, since other processes may share the machine."""
    best, spent = float("inf"), 0.0
    while spent < seconds or best == float("inf"):
        start = time.process_time()
        for title, text in docs:
            func(title, text)
        elapsed = time.process_time() - start
        best, spent = min(best, elapsed), spent + elapsed
    return len(docs) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--corpus", type=Path, help="JSON Lines of real excerpts to use instead")
    args = parser.parse_args()

    rules = default_rules()
    start = time.perf_counter()
    classifier = Classifier(rules)
    build = time.perf_counter() - start
    regexes = naive_baseline(rules)
    docs = corpus_articles(args.corpus) if args.corpus else articles(200)

    def naive(title: str, text: str) -> list[str]:
        doc = f"{title}\n{text}"
        return [m.group(0) for r in regexes if (m := r.search(doc))]

    ours = rate(classifier.classify, docs, args.seconds)
    baseline = rate(naive, docs, args.seconds)
    result = {
        "article_chars": round(sum(len(t) for _, t in docs) / len(docs)),
        "classifier_articles_per_s": round(ours),
        "naive_regex_articles_per_s": round(baseline),
        "speedup": round(ours / baseline, 1),
        "naive_regexes": len(regexes),
        "classifier_build_s": round(build, 3),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"articles of ~{result['article_chars']} characters, one core")
    print(f"  classifier (Aho-Corasick + entities): {ours:8.0f} articles/s")
    print(f"  naive regex per keyword ({len(regexes)} regexes): {baseline:8.0f} articles/s")
    print(f"  speed-up: {ours / baseline:.1f}x; building the classifier took {build:.3f}s")


if __name__ == "__main__":
    main()
