"""The alert a notifier sends, built once when the alert is enqueued and stored with it."""

from __future__ import annotations

import hashlib
from typing import Any

from monitor.models import Article, Classification
from monitor.store import iso, utcnow

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


def digest_id(alert_ids: list[str]) -> str:
    """Stable id of one digest message: the same alerts always give the same id."""
    return "digest-" + hashlib.sha256("\n".join(sorted(alert_ids)).encode()).hexdigest()[:25]


def build_digest(digest: str, payloads: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    """One message carrying many alerts, sent when a burst exceeds a notifier's rate limit.

    Every alert inside keeps its own ``id``, so a receiver that saw one of them alone before
    (a retry after a crash) can still drop the repeat.
    """
    return {
        "id": digest,
        "event": "digest",
        "reason": reason,
        "count": len(payloads),
        "alerts": payloads,
    }


def sample_payload(notifier: str) -> dict[str, Any]:
    """The alert ``monitor test-notify`` sends: clearly a test, shaped like the real thing."""
    return {
        "id": alert_id(f"test-notify {utcnow().isoformat()}", notifier),
        "event": "test",
        "topics": ["prisoner_swap", "diplomacy"],
        "scores": {"prisoner_swap": 1.0, "diplomacy": 1.0},
        "article": {
            "url": "https://example.org/newsmonitor/test-alert",
            "title": "Test alert from newsmonitor: this channel is set up correctly",
            "source": "newsmonitor",
            "published": iso(utcnow()),
            "summary": (
                f"This is a test alert sent by `monitor test-notify {notifier}`. Real alerts look"
                " like this one: the story's title and link, its source and time, the topics it"
                " matched, the entities found and why it matched."
            ),
        },
        "entities": [{"text": "newsmonitor", "type": "ORG"}],
        "why": {"prisoner_swap": ["test"], "diplomacy": ["test"]},
    }


def update_note(payload: dict[str, Any]) -> str | None:
    """For a follow-up about a story that alerted before (``event: story_update``), one line
    saying what is new; None for a first alert."""
    if payload.get("event") != "story_update":
        return None
    story = payload.get("story") or {}
    if story.get("reason") == "new_topic":
        return "Update: this story now also matches " + ", ".join(story.get("topics") or [])
    if story.get("reason") == "sources":
        return f"Update: this story is now reported by {len(story.get('sources') or [])} sources"
    return "Update to a story alerted before"
