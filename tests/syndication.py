"""A test set of syndicated copies built at run time from the third-party corpora in ../shared.

Nothing here is committed data: the texts are read from ``../shared/corpora`` (expected article
bodies of newspaper-articles and fundus-news) and the labelled excerpts of ``../shared/data``.

``clusters`` long articles and as many labelled excerpts (real pages about prisoner swaps and
diplomacy, so sharing much vocabulary) each become a cluster of copies as outlets syndicate
wire copy: the original, the same text under another headline, a trimmed copy (one paragraph
dropped), an extended copy (an extra paragraph from another article), and a lightly reworded
copy (a few sentences changed). Each also gets a *follow-up*: a different article that repeats
one background paragraph of it, which must not join its story. Every other page is unrelated
and must stay alone.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

from monitor.models import Article

VARIANTS = ("original", "headline", "trimmed", "extended", "reworded")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'“])")
_REWORDINGS = [
    ("said", "told reporters"),
    ("says", "told reporters"),
    ("the", "this"),
    ("a", "one"),
    ("and", "as well as"),
    ("but", "however"),
    ("is", "remains"),
    ("was", "had been"),
    ("will", "is set to"),
]


@dataclass(frozen=True)
class Page:
    """One real article body from the corpora."""

    name: str
    title: str
    paragraphs: list[str]

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


@dataclass(frozen=True)
class Copy:
    """One article of the test set and the cluster it truly belongs to."""

    article: Article
    cluster: str
    variant: str


def corpus_pages(shared: Path) -> list[Page]:
    """English article bodies of at least 150 words, in a fixed order."""
    pages = [*_newspaper_pages(shared), *_fundus_pages(shared)]
    return sorted((p for p in pages if p.words >= 150 and _mostly_latin(p)), key=lambda p: p.name)


def _newspaper_pages(shared: Path) -> Iterator[Page]:
    folder = shared / "corpora" / "newspaper-articles" / "tests" / "data" / "text"
    for path in sorted(folder.glob("*.txt")):
        lines = [
            ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").split("\n")
        ]
        paragraphs = [ln for ln in lines if ln]
        if paragraphs:
            yield Page(f"newspaper/{path.stem}", paragraphs[0][:90], paragraphs)


def _fundus_pages(shared: Path) -> Iterator[Page]:
    folder = shared / "corpora" / "fundus-news" / "tests" / "resources" / "parser" / "test_data"
    for path in sorted(folder.glob("*/*.json")):
        for version, value in sorted(json.loads(path.read_text(encoding="utf-8")).items()):
            body = value.get("body") or {}
            paragraphs = list(body.get("summary") or []) + [
                p for section in body.get("sections") or [] for p in section.get("paragraphs", [])
            ]
            title = value.get("title") or (paragraphs[0][:90] if paragraphs else "")
            if paragraphs:
                yield Page(f"fundus/{path.stem}/{version}", title, paragraphs)


def labelled_excerpts(shared: Path) -> list[Page]:
    """Real excerpts about prisoner swaps and diplomacy (and look-alikes), one page each."""
    path = shared / "data" / "devset.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Page(f"devset/{r['id']}", r["title"], [r["text"]]) for r in rows]


def _mostly_latin(page: Page) -> bool:
    text = " ".join(page.paragraphs)
    return sum(c.isascii() for c in text) >= 0.95 * len(text)


def syndicated_set(shared: Path, clusters: int = 40, seed: int = 8) -> list[Copy]:
    """Copies of ``clusters`` long articles and as many short excerpts (five variants each),
    plus every other page alone."""
    rng = random.Random(seed)
    pages, excerpts = corpus_pages(shared), labelled_excerpts(shared)
    rng.shuffle(pages)
    rng.shuffle(excerpts)
    originals = pages[:clusters] + excerpts[:clusters]
    followers = pages[clusters : 2 * clusters] + excerpts[clusters : 2 * clusters]
    others = pages[2 * clusters :] + excerpts[2 * clusters :]
    copies: list[Copy] = []
    published = datetime(2025, 5, 22, 8, 0, tzinfo=UTC)
    for number, page in enumerate(originals):
        filler = others[(number * 7) % len(others)]
        for variant in VARIANTS:
            title, paragraphs = _variant(variant, page, filler, rng)
            outlet = f"outlet-{VARIANTS.index(variant)}"
            copies.append(
                Copy(
                    _article(page, variant, outlet, title, paragraphs, published),
                    page.name,
                    variant,
                )
            )
        follower = followers[number]
        paragraphs = [*follower.paragraphs, _background(page)]
        article = _article(follower, "follow-up", "outlet-y", follower.title, paragraphs, published)
        copies.append(Copy(article, follower.name, "follow-up"))
    for page in others:
        copies.append(
            Copy(
                _article(page, "alone", "outlet-x", page.title, page.paragraphs, published),
                page.name,
                "alone",
            )
        )
    rng.shuffle(copies)
    return copies


def _article(
    page: Page, variant: str, outlet: str, title: str, paragraphs: list[str], when: datetime
) -> Article:
    slug = re.sub(r"[^a-z0-9]+", "-", page.name.lower()).strip("-")
    return Article(
        url=f"https://{outlet}.example.org/{slug}/{variant}",
        title=title,
        source=outlet,
        text="\n\n".join(paragraphs),
        published=when + timedelta(minutes=len(slug) % 90),
    )


def _variant(variant: str, page: Page, filler: Page, rng: random.Random) -> tuple[str, list[str]]:
    paragraphs = list(page.paragraphs)
    if variant == "headline":
        return f"{page.title.split(':')[0]}: what we know so far", paragraphs
    if variant == "trimmed":
        return page.title, _drop_one(paragraphs, rng)
    if variant == "extended":
        return page.title, [*paragraphs, _extra_paragraph(filler)]
    if variant == "reworded":
        return page.title, _reword(paragraphs, rng)
    return page.title, paragraphs


def _extra_paragraph(filler: Page, most_words: int = 45) -> str:
    """A paragraph from another article, as a syndicator adds local context (at most
    ``most_words`` words: the copy stays mostly the wire text)."""
    sentences = _SENTENCE.split(" ".join(filler.paragraphs))
    chosen: list[str] = []
    for sentence in sentences:
        if chosen and sum(len(s.split()) for s in chosen) + len(sentence.split()) > most_words:
            break
        chosen.append(sentence)
    return " ".join(chosen)


def _background(page: Page, most_words: int = 45) -> str:
    """A later, different story often repeats a background paragraph of the first one (a
    paragraph of the first, cut to ``most_words`` words: the follow-up stays mostly new text)."""
    paragraphs = page.paragraphs[1:] if len(page.paragraphs) >= 3 else page.paragraphs
    longest = max(paragraphs, key=lambda p: len(p.split()))
    return " ".join(longest.split()[:most_words])


def _drop_one(paragraphs: list[str], rng: random.Random) -> list[str]:
    """One paragraph gone (or, for a one-paragraph text, its last sentences)."""
    if len(paragraphs) >= 3:
        del paragraphs[rng.randrange(1, len(paragraphs))]
        return paragraphs
    sentences = _SENTENCE.split(" ".join(paragraphs))
    return [" ".join(sentences[: max(1, len(sentences) * 4 // 5)])]


def _reword(paragraphs: list[str], rng: random.Random, sentences: int = 3) -> list[str]:
    """A few sentences rewritten by an editor: some words swapped for others."""
    split = [_SENTENCE.split(p) for p in paragraphs]
    places = [(i, j) for i, p in enumerate(split) for j in range(len(p))]
    for i, j in rng.sample(places, min(sentences, len(places))):
        split[i][j] = _reword_sentence(split[i][j])
    return [" ".join(p) for p in split]


def _reword_sentence(sentence: str) -> str:
    tokens = sentence.split()
    changed = 0
    for index, token in enumerate(tokens):
        for old, new in _REWORDINGS:
            if token.lower() == old and changed < 3:
                tokens[index] = new
                changed += 1
                break
    if changed == 0 and len(tokens) > 4:
        tokens.insert(len(tokens) // 2, "reportedly")
    return " ".join(tokens)


@dataclass(frozen=True)
class PairScores:
    """Pairwise clustering quality: of all pairs put in one story, how many truly belong
    together (precision), and of all pairs that belong together, how many were put in one
    story (recall)."""

    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int


def pairwise_scores(truth: list[str], predicted: list[int]) -> PairScores:
    """Pairwise precision and recall of a clustering against the true clusters."""
    tp = fp = fn = 0
    for (t1, p1), (t2, p2) in combinations(zip(truth, predicted, strict=True), 2):
        same_truth, same_predicted = t1 == t2, p1 == p2
        tp += same_truth and same_predicted
        fp += same_predicted and not same_truth
        fn += same_truth and not same_predicted
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return PairScores(precision, recall, tp + fn, tp + fp)
