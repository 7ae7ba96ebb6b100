"""Alert delivery: the outbox (``deliver_pending``) and one module per notifier type.

``NOTIFIERS`` maps a config ``type`` to its class; adding a notifier is one file and one line.
"""

from __future__ import annotations

from monitor.config import NotifierConfig
from monitor.notify.base import Notifier
from monitor.notify.slack import SlackNotifier
from monitor.notify.webhook import WebhookNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    "slack": SlackNotifier,
    "webhook": WebhookNotifier,
}


def build_notifier(config: NotifierConfig) -> Notifier:
    """The notifier a config entry describes."""
    return NOTIFIERS[config.type](config)


__all__ = ["NOTIFIERS", "Notifier", "build_notifier"]
