"""Generic JSON webhook: the SPEC's body, ``Idempotency-Key`` and an HMAC-SHA256 signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from monitor.notify.base import Notifier


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier(Notifier):
    """POSTs the alert as JSON; receivers drop repeats by ``Idempotency-Key``."""

    kind = "webhook"

    def request(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": str(payload["id"]),
            "X-Monitor-Timestamp": str(int(time.time())),
        }
        if self.config.secret:
            headers["X-Monitor-Signature"] = signature(self.config.secret, body)
        return body, headers
