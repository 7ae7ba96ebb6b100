"""The project's few exception types.

    MonitorError               anything newsmonitor raises on purpose
    ├── ConfigError            the config file is missing, unreadable or invalid (exit 2)
    ├── FetchError             a source could not be fetched or parsed; recorded on the source
    └── DeliveryError          a notifier could not deliver an alert; the alert stays pending
        └── PermanentDeliveryError   the receiver refused for good (4xx); the alert fails

Library errors are mapped into these at the boundary (``raise FetchError(...) from exc``);
the CLI is the only place they become exit codes.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class for errors newsmonitor raises on purpose."""


class ConfigError(MonitorError):
    """The config is invalid; ``problems`` lists every error as ``(key path, message)``."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: {key}: {msg}" if key else f"{path}: {msg}" for key, msg in problems]
        super().__init__("\n".join(lines))


class FetchError(MonitorError):
    """A source could not be fetched or parsed."""


class DeliveryError(MonitorError):
    """A notifier could not deliver an alert now; it may succeed later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The receiver refused the alert for good; retrying will not help."""
