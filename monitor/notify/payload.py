"""The alert a notifier sends, built once when the alert is enqueued and stored with it."""

from __future__ import annotations

import hashlib
from typing import Any

from monitor.models import Article, Classification
from monitor.store import iso

SUMMARY_CHARS = 500


def alert_id(story_key: str, notifier: str) -> str:
    """Stable id of one alert: the same story and notifier always give the same id."""
    return hashlib.sha256(f"{story_key}\n{notifier}".encode()).hexdigest()[:32]


def build_payload(alert: str, article: Article, result: Classification) -> dict[str, Any]:
    """The generic webhook body of the SPEC; Slack and others are rendered from it."""
    summary = article.summary or article.text
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return {
        "id": alert,
        "event": "match",
        "topics": list(result.topics),
        "scores": {t: round(result.scores.get(t, 0.0), 3) for t in result.topics},
        "article": {
            "url": article.url,
            "title": article.title,
            "source": article.source,
            "published": iso(article.published),
            "summary": summary,
        },
        "entities": [e.as_dict() for e in result.entities],
        "why": {t: result.why.get(t, []) for t in result.topics},
    }
