"""Why a source failed, as a kind the operator can group by and a message that says what.

    FetchError (monitor.errors)
    └── SourceError            kind is one of KINDS; ``retry_after`` when the server asked

Every fetch or parse failure of a feed becomes a SourceError at the boundary, so the service
records ``sources.last_error`` and ``sources.last_error_kind`` the same way for all of them.
"""

from __future__ import annotations

from datetime import timedelta

from monitor.errors import FetchError

KINDS = (
    "timeout",  # connect/read timeout or the total deadline of one fetch
    "too_large",  # over the size cap on the wire or after decompression
    "http_status",  # 4xx/5xx answer
    "redirects",  # redirect loop or too many redirects
    "network",  # connection refused/reset, DNS, TLS, protocol errors
    "not_feed",  # empty, HTML or anything else that is not RSS/Atom/JSON Feed
    "unsafe_xml",  # external entities or an entity-expansion bomb
    "parse",  # a feed parser gave up in an unexpected way
)


class SourceError(FetchError):
    """A feed could not be fetched or parsed; ``kind`` says which way it failed."""

    def __init__(self, message: str, kind: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[SourceError], tuple[str, str, timedelta | None]]:
        # Raised inside parse worker processes: keep kind and retry_after across pickling.
        return (SourceError, (str(self), self.kind, self.retry_after))
