"""The keyword + entity filter: pure, no I/O. ``Classifier(rules).classify(title, text)``."""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitor.classify.rules import TopicRules
from monitor.models import Classification

__all__ = ["Classifier", "TopicRules"]


class Classifier:
    """Decides which topics an article belongs to (placeholder implementation, see issue 3)."""

    def __init__(self, topics: Mapping[str, TopicRules]) -> None:
        self._topics = {
            name: (
                [re.compile(rf"\b{re.escape(p)}", re.I) for p in rules.phrases],
                [re.compile(rf"\b{re.escape(p)}", re.I) for p in rules.require_any],
                [re.compile(rf"\b{re.escape(p)}", re.I) for p in rules.exclude],
            )
            for name, rules in topics.items()
        }

    @property
    def topic_names(self) -> list[str]:
        return list(self._topics)

    def classify(self, title: str, text: str) -> Classification:
        doc = f"{title}\n{text}"
        topics: list[str] = []
        scores: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        for name, (phrases, context, exclude) in self._topics.items():
            hits = [m.group(0).lower() for p in phrases if (m := p.search(doc))]
            ok = bool(hits) and (not context or any(c.search(doc) for c in context))
            ok = ok and not any(x.search(doc) for x in exclude)
            scores[name] = 1.0 if ok else 0.0
            if ok:
                topics.append(name)
                why[name] = hits
        return Classification(topics=topics, scores=scores, why=why)
