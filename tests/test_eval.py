"""Measuring the filter: per-topic precision/recall/F1 and the mistakes, on labelled rows."""

from __future__ import annotations

import json

import pytest

from monitor.classify import Classifier, default_rules
from monitor.classify.evaluate import evaluate
from monitor.models import Classification


class KeywordClassifier:
    """A stand-in classifier: a topic matches when its name occurs in the title."""

    topic_names = ["swap", "talks"]

    def classify(self, title: str, text: str) -> Classification:
        hits = [t for t in self.topic_names if t in title]
        return Classification(topics=hits, scores={t: float(t in hits) for t in self.topic_names})


def test_counts_precision_recall_and_mistakes():
    rows = [
        {"id": "a", "title": "swap", "labels": ["swap"]},
        {"id": "b", "title": "swap talks", "labels": ["swap"], "note": "talks only mentioned"},
        {"id": "c", "title": "nothing", "labels": ["talks"], "note": "missed"},
        {"id": "d", "title": "nothing", "labels": []},
    ]

    result = evaluate(rows, KeywordClassifier())

    swap, talks = result.topics["swap"], result.topics["talks"]
    assert (swap.tp, swap.fp, swap.fn, swap.tn) == (2, 0, 0, 2) and swap.f1 == 1.0
    assert (talks.tp, talks.fp, talks.fn, talks.tn) == (0, 1, 1, 2)
    assert talks.precision == 0.0 and talks.recall == 0.0 and talks.f1 == 0.0
    assert [(m.id, m.topic, m.kind) for m in result.mistakes] == [
        ("b", "talks", "false positive"),
        ("c", "talks", "false negative"),
    ]
    assert result.mistakes[1].note == "missed"
    assert json.dumps(result.as_dict())  # serialisable for `monitor eval --format json`


def test_summary_is_used_when_there_is_no_text():
    rows = [{"id": "x", "title": "", "summary": "swap", "labels": []}]

    class BodyClassifier(KeywordClassifier):
        def classify(self, title: str, text: str) -> Classification:
            return super().classify(text, "")

    assert evaluate(rows, BodyClassifier()).mistakes[0].kind == "false positive"


def test_shipped_rules_reach_the_quality_target_on_the_dev_set(shared_dir):
    path = shared_dir / "data" / "devset.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    result = evaluate(rows, Classifier(default_rules()))

    assert result.topics["prisoner_swap"].f1 >= 0.95, result.topics["prisoner_swap"]
    assert result.topics["diplomacy"].f1 >= 0.90, result.topics["diplomacy"]


@pytest.mark.parametrize("topic", ["prisoner_swap", "diplomacy"])
def test_hard_negatives_rarely_match(shared_dir, topic):
    path = shared_dir / "data" / "devset.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    negatives = [r for r in rows if r["note"].startswith("HARD negative")]
    clf = Classifier(default_rules())

    wrong = [r["id"] for r in negatives if topic in clf.classify(r["title"], r["text"]).topics]

    assert len(wrong) <= len(negatives) // 20, wrong
