"""Slack incoming webhook: a ``text`` fallback plus Block Kit blocks, article text escaped."""

from __future__ import annotations

import json
from typing import Any

from monitor.notify.base import Notifier, defang_mentions
from monitor.notify.payload import update_note

TOPIC_LABELS = {"prisoner_swap": "Prisoner swap", "diplomacy": "Diplomacy"}
TITLE_CHARS = 250
SUMMARY_CHARS = 600
DIGEST_LINES = 25
SECTION_CHARS = 2900  # Slack refuses a section text over 3000 characters


def escape(text: str) -> str:
    """Slack's mrkdwn escaping plus defanged ``@``: no article can ping a channel or a user
    (``<!channel>``, ``@here``, ``<@U123>``) or forge a link (``<https://evil|bank>``)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return defang_mentions(text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(url: str, label: str) -> str:
    """``<url|label>`` for http(s) URLs, with the delimiters that would end it early encoded;
    any other scheme is shown as plain text, never as a link."""
    if not url.lower().startswith(("http://", "https://")):
        return label
    target = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")
    return f"<{target}|{label}>"


def _topics(topics: list[str]) -> str:
    return ", ".join(TOPIC_LABELS.get(t, escape(t)) for t in topics)


def _title(article: dict[str, Any]) -> str:
    return escape(_clip(article.get("title") or article["url"], TITLE_CHARS))


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The Slack body for one alert payload: title linked, source, time, topics, why, entities."""
    article = payload["article"]
    topics = _topics(payload["topics"])
    title = _title(article)
    context = [f"*{escape(article['source'])}*"]
    if article.get("published"):
        context.append(escape(article["published"]))
    context.append(topics)
    why = "; ".join(
        f"{TOPIC_LABELS.get(t, escape(t))}: {escape(', '.join(terms))}"
        for t, terms in payload["why"].items()
    )
    entities = ", ".join(escape(e["text"]) for e in payload["entities"][:8])
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{_link(article['url'], title)}*"},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
    ]
    if article.get("summary"):
        summary = escape(_clip(article["summary"], SUMMARY_CHARS))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": summary}})
    details = [f"*Why:* {why}"] if why else []
    if entities:
        details.append(f"*Entities:* {entities}")
    if details:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(details)}]}
        )
    note = update_note(payload)
    if note:
        blocks.insert(
            0, {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(note)}]}
        )
    prefix = f"{escape(note)}: " if note else ""
    return {"text": f"{prefix}[{topics}] {title}", "blocks": blocks, "unfurl_links": False}


def slack_digest(payload: dict[str, Any]) -> dict[str, Any]:
    """One Slack message for a digest: a line per story, linked, instead of a ping each."""
    alerts = payload["alerts"]
    heading = f"*{len(alerts)} more matching stories* ({escape(payload['reason'])})"
    lines = [
        f"• {_link(a['article']['url'], _title(a['article']))}"
        f" — {escape(a['article']['source'])} · {_topics(a['topics'])}"
        for a in alerts[:DIGEST_LINES]
    ]
    if len(alerts) > DIGEST_LINES:
        lines.append(f"…and {len(alerts) - DIGEST_LINES} more: `monitor alerts --status sent`")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": heading}}
    ]
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > SECTION_CHARS:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
            chunk = []
        chunk.append(_clip(line, SECTION_CHARS))
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
    text = f"{len(alerts)} more matching stories ({escape(payload['reason'])})"
    return {"text": text, "blocks": blocks, "unfurl_links": False}


class SlackNotifier(Notifier):
    """Posts to a Slack incoming webhook."""

    kind = "slack"

    def request(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        render = slack_digest if payload.get("event") == "digest" else slack_message
        body = json.dumps(render(payload), ensure_ascii=False).encode()
        return body, {"Content-Type": "application/json", "Idempotency-Key": str(payload["id"])}
