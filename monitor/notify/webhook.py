"""Generic JSON webhook: the SPEC's body, ``Idempotency-Key`` and HMAC-SHA256 signatures.

With a ``secret``, two signatures are sent:

* ``X-Monitor-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` (the SPEC's), and
* ``X-Monitor-Signature-V2: t=<unix time>,sha256=<hex HMAC-SHA256 of "<t>.<raw body>">`` with
  the same time in ``X-Monitor-Timestamp``: because the time is signed, a receiver that
  rejects old timestamps (say, older than five minutes) cannot be fed a recorded request again.
"""

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


def timed_signature(secret: str, body: bytes, timestamp: int) -> str:
    """``t=<timestamp>,sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">``."""
    signed = str(timestamp).encode() + b"." + body
    return f"t={timestamp}," + signature(secret, signed)


def verify(secret: str, body: bytes, header: str, now: float, tolerance: float = 300) -> bool:
    """What a receiver does with ``X-Monitor-Signature-V2``: the HMAC matches and it is fresh."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = timed_signature(secret, body, timestamp)
    return hmac.compare_digest(expected, header) and abs(now - timestamp) <= tolerance


class WebhookNotifier(Notifier):
    """POSTs the alert as JSON; receivers drop repeats by ``Idempotency-Key``."""

    kind = "webhook"

    def request(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": str(payload["id"]),
            "X-Monitor-Timestamp": str(timestamp),
        }
        if self.config.secret:
            headers["X-Monitor-Signature"] = signature(self.config.secret, body)
            headers["X-Monitor-Signature-V2"] = timed_signature(self.config.secret, body, timestamp)
        return body, headers
