"""Apprise: Discord, Microsoft Teams, Telegram, email, ntfy and ~100 more services by URL.

``type: apprise`` with ``url: <apprise URL>`` (``discord://…``, ``msteams://…``,
``tgram://…``, ``mailtos://…``, ``ntfy://…``, ``json://…``). The alert is rendered as a plain
text title and body; the outbox gives it the same guarantees as any other notifier. Apprise
only reports success or failure, so every failure is treated as temporary and retried until
the notifier's ``max_attempts``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from monitor.config import NotifierConfig
from monitor.errors import DeliveryError
from monitor.notify.base import Notifier, defang_mentions, redact
from monitor.notify.payload import update_note

if TYPE_CHECKING:
    import apprise as apprise_lib

TOPIC_LABELS = {"prisoner_swap": "Prisoner swap", "diplomacy": "Diplomacy"}
DIGEST_LINES = 25


def _plain(text: str) -> str:
    return defang_mentions(" ".join(text.split()))


def _url(url: str) -> str:
    """The story's URL with ``@`` in its path or query written ``%40`` (same page), since chat
    services may read ``…/@everyone`` in a message as a mention."""
    parts = urlsplit(url)
    path, query, fragment = (
        p.replace("@", "%40") for p in (parts.path, parts.query, parts.fragment)
    )
    return urlunsplit((parts.scheme, parts.netloc, path, query, fragment))


def _topics(topics: list[str]) -> str:
    return ", ".join(TOPIC_LABELS.get(t, t) for t in topics)


def apprise_message(payload: dict[str, Any]) -> tuple[str, str]:
    """(title, body) for one alert or digest, as plain text."""
    if payload.get("event") == "digest":
        return _digest_message(payload)
    article = payload["article"]
    title = f"[{_topics(payload['topics'])}] {_plain(article.get('title') or article['url'])}"
    lines = [" · ".join(filter(None, [_plain(article["source"]), article.get("published")]))]
    note = update_note(payload)
    if note:
        lines.insert(0, _plain(note))
    if article.get("summary"):
        lines.append(_plain(article["summary"]))
    why = "; ".join(f"{t}: {', '.join(terms)}" for t, terms in payload["why"].items())
    if why:
        lines.append(f"Why: {_plain(why)}")
    entities = ", ".join(e["text"] for e in payload["entities"][:8])
    if entities:
        lines.append(f"Entities: {_plain(entities)}")
    lines += [_url(article["url"]), f"alert id: {payload['id']}"]
    return title, "\n".join(lines)


def _digest_message(payload: dict[str, Any]) -> tuple[str, str]:
    alerts = payload["alerts"]
    title = f"{len(alerts)} more matching stories ({payload['reason']})"
    lines = [
        f"• {_plain(a['article'].get('title') or '')} — {_plain(a['article']['source'])}"
        f" [{_topics(a['topics'])}]\n  {_url(a['article']['url'])}"
        for a in alerts[:DIGEST_LINES]
    ]
    if len(alerts) > DIGEST_LINES:
        lines.append(f"…and {len(alerts) - DIGEST_LINES} more (monitor alerts --status sent)")
    lines.append(f"digest id: {payload['id']}")
    return title, "\n".join(lines)


def _apprise() -> Any:
    """The apprise module, its own log kept out of ours: its lines can quote a service URL,
    which is a secret; what matters of it reaches our log through ``DeliveryError``."""
    import apprise

    logging.getLogger("apprise").propagate = False
    return apprise


class AppriseNotifier(Notifier):
    """Sends through Apprise, whose plugins talk to each service's own API."""

    kind = "apprise"

    def __init__(self, config: NotifierConfig) -> None:
        super().__init__(config)
        self._apprise: apprise_lib.Apprise | None = None

    @classmethod
    def config_problem(cls, config: NotifierConfig) -> str | None:
        if _apprise().Apprise.instantiate(config.url) is None:
            return "url: not an Apprise URL this installation supports"
        return None

    def _instance(self) -> apprise_lib.Apprise:
        apprise = _apprise()
        if self._apprise is None:
            plugin = apprise.Apprise.instantiate(self.config.url)
            if plugin is None:
                raise DeliveryError("not an Apprise URL this installation supports")
            seconds = self.config.timeout.total_seconds()
            plugin.socket_connect_timeout = plugin.socket_read_timeout = seconds
            self._apprise = apprise.Apprise()
            self._apprise.add(plugin)
        return self._apprise

    async def send(self, client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
        apprise = _apprise()
        title, body = apprise_message(payload)
        notifier = self._instance()
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            delivered = await notifier.async_notify(
                body=body, title=title, body_format=apprise.NotifyFormat.TEXT
            )
        if not delivered:
            log_lines = [line for line in captured.getvalue().splitlines() if line.strip()]
            reason = "; ".join(log_lines[-2:]) or "apprise could not deliver"
            raise DeliveryError(redact(reason[:300], self.config))
