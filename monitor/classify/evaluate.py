"""Measure a classifier against labelled articles: per-topic precision, recall, F1, mistakes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.models import Classification


class _Classifies(Protocol):
    @property
    def topic_names(self) -> list[str]: ...

    def classify(self, title: str, text: str) -> Classification: ...


@dataclass(frozen=True)
class Mistake:
    """One labelled row the classifier got wrong for one topic."""

    id: str
    topic: str
    kind: str  # "false positive" or "false negative"
    title: str
    note: str
    score: float
    why: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TopicScore:
    """Confusion counts for one topic and the measures derived from them."""

    topic: str
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating a classifier on a labelled set."""

    rows: int
    topics: dict[str, TopicScore]
    mistakes: list[Mistake]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "topics": {name: score.as_dict() for name, score in self.topics.items()},
            "mistakes": [m.__dict__ for m in self.mistakes],
        }


def row_text(row: Mapping[str, Any]) -> tuple[str, str]:
    """Title and body of a labelled row (``text``, else ``summary``)."""
    return str(row.get("title") or ""), str(row.get("text") or row.get("summary") or "")


def evaluate(rows: Iterable[Mapping[str, Any]], classifier: _Classifies) -> Evaluation:
    """Classify every row and compare its topics with the row's ``labels``."""
    topics = classifier.topic_names
    counts = {t: [0, 0, 0, 0] for t in topics}  # tp, fp, fn, tn
    mistakes: list[Mistake] = []
    total = 0
    for row in rows:
        total += 1
        result = classifier.classify(*row_text(row))
        labels = set(row.get("labels") or [])
        for topic in topics:
            predicted, expected = topic in result.topics, topic in labels
            slot = _slot(predicted, expected)
            counts[topic][slot] += 1
            if predicted != expected:
                mistakes.append(_mistake(row, topic, predicted, result))
    return Evaluation(
        rows=total,
        topics={t: TopicScore(t, *c) for t, c in counts.items()},
        mistakes=mistakes,
    )


def _slot(predicted: bool, expected: bool) -> int:
    if predicted:
        return 0 if expected else 1
    return 2 if expected else 3


def _mistake(
    row: Mapping[str, Any], topic: str, predicted: bool, result: Classification
) -> Mistake:
    verdict = result.verdicts.get(topic)
    terms = [t for e in verdict.signals for t in e.terms] if verdict else []
    return Mistake(
        id=str(row.get("id", "")),
        topic=topic,
        kind="false positive" if predicted else "false negative",
        title=row_text(row)[0],
        note=str(row.get("note", "")),
        score=result.scores.get(topic, 0.0),
        why=terms,
    )
