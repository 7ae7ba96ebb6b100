"""What every notifier is: something that POSTs one alert payload and maps failures."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from monitor.config import NotifierConfig
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.store import utcnow


class Notifier:
    """Base class: subclasses render the request; ``send`` maps the response to errors."""

    kind: ClassVar[str] = ""

    def __init__(self, config: NotifierConfig) -> None:
        self.config = config
        self.name = config.name

    def request(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers for one alert."""
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
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {_redact(str(exc), self.config)}") from exc
        check_response(response)


def check_response(response: httpx.Response) -> None:
    """2xx is delivered; 408, 429 and 5xx retry later; any other status is permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"HTTP {status}: {response.text[:200]!r}"
    if status in (408, 429) or status >= 500:
        raise DeliveryError(message, retry_after=retry_after_seconds(response))
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


def _redact(text: str, config: NotifierConfig) -> str:
    """Webhook URLs are secrets: never let one into a log line or the database."""
    for secret in (config.url, config.secret):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
