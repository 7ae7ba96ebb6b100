"""What every notifier is: something that delivers one alert payload and maps failures.

HTTP notifiers render a body and headers (``request``); ``send`` POSTs it and maps the answer:
2xx delivered; 408, 429, 5xx and timeouts retry later (``Retry-After`` read on 429 and 503);
any other status is permanent. Notifiers that are not a single POST override ``send``.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from monitor.config import NotifierConfig
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.store import utcnow

_MENTION = re.compile(r"@(?=\S)")


class Notifier:
    """Base class: subclasses render the request; ``send`` maps the response to errors."""

    kind: ClassVar[str] = ""

    def __init__(self, config: NotifierConfig) -> None:
        self.config = config
        self.name = config.name

    @classmethod
    def config_problem(cls, config: NotifierConfig) -> str | None:
        """Why this (enabled) config cannot work, caught at load time; None when it can."""
        if not re.match(r"^https?://[^/\s]+", config.url):
            return "url: not an http(s) URL"
        return None

    def request(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers for one alert (or digest) payload."""
        raise NotImplementedError

    async def send(self, client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
        """Deliver one alert; raise DeliveryError (retry later) or PermanentDeliveryError."""
        body, headers = self.request(payload)
        try:
            response = await client.post(
                self.config.url,
                content=body,
                headers=headers,
                timeout=self.config.timeout.total_seconds(),
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {redact(str(exc), self.config)}") from exc
        check_response(response)


def check_response(response: httpx.Response) -> None:
    """2xx is delivered; 408, 429 and 5xx retry later; any other status is permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"HTTP {status}: {response.text[:200]!r}"
    if status in (408, 429) or status >= 500:
        honoured = retry_after_seconds(response) if status in (429, 503) else None
        raise DeliveryError(message, retry_after=honoured)
    raise PermanentDeliveryError(message)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds, in either of its forms (delta or HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


def defang_mentions(text: str) -> str:
    """A zero-width space after every ``@``: ``@channel``, ``@here``, ``@everyone`` and
    ``<@U123>`` read the same but no chat service treats them as a mention any more."""
    return _MENTION.sub("@\u200b", text)


def redact(text: str, config: NotifierConfig) -> str:
    """Webhook URLs are secrets: never let one into a log line or the database."""
    for secret in (config.url, config.secret):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
