"""Alert delivery: the outbox (``Outbox``, ``deliver_pending``) and one module per notifier.

``NOTIFIERS`` maps a config ``type`` to its class; adding a notifier is one file and one line.
"""

from __future__ import annotations

from monitor.config import NotifierConfig
from monitor.notify.apprise import AppriseNotifier
from monitor.notify.base import Notifier
from monitor.notify.slack import SlackNotifier
from monitor.notify.webhook import WebhookNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    "slack": SlackNotifier,
    "webhook": WebhookNotifier,
    "apprise": AppriseNotifier,
}


def build_notifier(config: NotifierConfig) -> Notifier:
    """The notifier a config entry describes."""
    return NOTIFIERS[config.type](config)


__all__ = ["NOTIFIERS", "Notifier", "build_notifier"]
