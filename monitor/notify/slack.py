"""Slack incoming webhook: a ``text`` fallback plus Block Kit blocks, article text escaped."""

from __future__ import annotations

import json
from typing import Any

from monitor.notify.base import Notifier

TOPIC_LABELS = {"prisoner_swap": "Prisoner swap", "diplomacy": "Diplomacy"}


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: no article can ping a channel, mention a user or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link_target(url: str) -> str:
    # A URL inside <url|label> must not contain the delimiters that would end it early.
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The Slack body for one alert payload."""
    article = payload["article"]
    topics = ", ".join(TOPIC_LABELS.get(t, t) for t in payload["topics"])
    title = escape(article["title"] or article["url"])
    url = _link_target(article["url"])
    context = [f"*{escape(article['source'])}*"]
    if article.get("published"):
        context.append(escape(article["published"]))
    context.append(topics)
    why = "; ".join(
        f"{TOPIC_LABELS.get(t, t)}: {escape(', '.join(terms))}"
        for t, terms in payload["why"].items()
    )
    entities = ", ".join(escape(e["text"]) for e in payload["entities"][:8])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{url}|{title}>*"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
    ]
    if article.get("summary"):
        summary = escape(article["summary"][:600])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": summary}})
    details = [f"*Why:* {why}"] if why else []
    if entities:
        details.append(f"*Entities:* {entities}")
    if details:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(details)}]}
        )
    return {"text": f"[{topics}] {title}", "blocks": blocks, "unfurl_links": False}


class SlackNotifier(Notifier):
    """Posts to a Slack incoming webhook."""

    kind = "slack"

    def request(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(slack_message(payload), ensure_ascii=False).encode()
        return body, {"Content-Type": "application/json"}
