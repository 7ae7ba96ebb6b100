"""A fetch no source can break: conditional GET, timeouts, a deadline, size caps, politeness.

One ``httpx.AsyncClient`` (one connection pool) serves the whole process; ``HostLimiter`` keeps
at most a few requests in flight per host. The body is read raw and decoded here, chunk by
chunk, so a gzip bomb stops at the cap instead of filling memory.

Feed fetches, nearly all of the traffic, go straight to the client's connection pool (its
transport, httpx's extension point) and follow redirects here: the client's own ``send`` adds
cookie handling, auth and redirect hooks a feed never uses, a sixth of a fetch's CPU. They keep
no cookies between polls; one a redirect sets goes along the rest of that fetch's redirects
(a consent wall that sets a cookie and sends the reader back works). When the environment names
a proxy, the client routes through it as httpx does, and feed fetches go through the client.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache
from urllib.parse import urlsplit
from urllib.request import getproxies_environment

import httpx

from monitor.sources import tls
from monitor.sources.errors import SourceError

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
)
# Only what we can decode with a bounded output size ourselves.
ACCEPT_ENCODING = "gzip, deflate"
CHUNK = 64 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\b", re.IGNORECASE)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchLimits:
    """What one fetch may cost at most."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_decoded_bytes: int = 32 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True)
class Validators:
    """What the last good answer told us to send back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True)
class FetchResult:
    """One answer: the decoded body (empty on 304) and the hints for the next poll."""

    url: str
    status: int
    content: bytes
    content_type: str = ""
    validators: Validators = Validators()
    max_age: timedelta | None = None
    retry_after: timedelta | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class PooledClient(httpx.AsyncClient):
    """httpx's client over a connection pool made here (``pool``), which ``fetch`` uses directly."""

    def __init__(self, pool: httpx.AsyncHTTPTransport, user_agent: str, limits: FetchLimits):
        super().__init__(
            transport=pool,
            headers={"User-Agent": user_agent},
            timeout=_timeout(limits),
            follow_redirects=True,
            max_redirects=limits.max_redirects,
        )
        self.pool = pool
        self.user_agent = user_agent


def build_client(user_agent: str, concurrency: int, limits: FetchLimits) -> httpx.AsyncClient:
    """The process's one connection pool, sending the configured user agent."""
    pool_limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if _proxy_in_environment():
        # httpx mounts a pool per proxy (and honours NO_PROXY): everything goes through it.
        return httpx.AsyncClient(
            headers={"User-Agent": user_agent},
            verify=tls.context(),
            timeout=_timeout(limits),
            limits=pool_limits,
            follow_redirects=True,
            max_redirects=limits.max_redirects,
        )
    pool = httpx.AsyncHTTPTransport(verify=tls.context(), limits=pool_limits)
    return PooledClient(pool, user_agent, limits)


def _proxy_in_environment() -> bool:
    """Whether ``HTTP_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY`` is set, as httpx reads them."""
    return any(scheme in ("http", "https", "all") for scheme in getproxies_environment())


def _timeout(limits: FetchLimits) -> httpx.Timeout:
    return httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout, pool=limits.deadline)


@cache
def _timeouts(limits: FetchLimits) -> dict[str, float | None]:
    """``_timeout`` as the transport reads it from a request's extensions."""
    return _timeout(limits).as_dict()


class HostLimiter:
    """At most ``per_host`` requests in flight to any one host, however many feeds it serves."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._slots: dict[str, asyncio.Semaphore] = {}

    def slot(self, url: str) -> asyncio.Semaphore:
        """The host's slots (``async with limiter.slot(url): ...``)."""
        host = (urlsplit(url).hostname or "").lower()
        semaphore = self._slots.get(host)
        if semaphore is None:
            semaphore = self._slots[host] = asyncio.Semaphore(self.per_host)
        return semaphore


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators = Validators(),
    limits: FetchLimits = FetchLimits(),
) -> FetchResult:
    """GET ``url`` conditionally within ``limits``; every failure becomes a SourceError."""
    headers = {"Accept": FEED_ACCEPT, "Accept-Encoding": ACCEPT_ENCODING, **validators.headers()}
    try:
        async with asyncio.timeout(limits.deadline):
            if not isinstance(client, PooledClient):
                async with client.stream("GET", url, headers=headers) as response:
                    return await _read(response, limits)
            headers["User-Agent"] = client.user_agent
            response = await _get(client.pool, httpx.URL(url), headers, limits)
            try:
                return await _read(response, limits)
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise SourceError(f"no complete answer within {limits.deadline:g}s", "timeout") from exc
    except httpx.TooManyRedirects as exc:
        raise SourceError(f"more than {limits.max_redirects} redirects", "redirects") from exc
    except httpx.TimeoutException as exc:
        raise SourceError(f"timed out: {_timeout_phase(exc)}", "timeout") from exc
    except httpx.HTTPError as exc:
        raise SourceError(f"{type(exc).__name__}: {exc}", "network") from exc


async def _get(
    pool: httpx.AsyncBaseTransport, url: httpx.URL, headers: dict[str, str], limits: FetchLimits
) -> httpx.Response:
    """The response to GET ``url`` from ``pool``, after at most ``limits.max_redirects``
    redirects (each hop a GET, as httpx's client follows them)."""
    cookies: httpx.Cookies | None = None
    for _ in range(limits.max_redirects + 1):
        request = httpx.Request(
            "GET", url, headers=headers, extensions={"timeout": _timeouts(limits)}
        )
        if cookies is not None:
            cookies.set_cookie_header(request)
        response = await pool.handle_async_request(request)
        response.request = request
        location = response.headers.get("location")
        if response.status_code not in _REDIRECTS or location is None:
            return response
        await response.aclose()
        url = _redirect_target(request, location)
        if "set-cookie" in response.headers:
            cookies = cookies or httpx.Cookies()
            cookies.extract_cookies(response)
    raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)


def _redirect_target(request: httpx.Request, location: str) -> httpx.URL:
    try:
        target = httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise httpx.RemoteProtocolError(f"invalid Location {location!r}: {exc}") from None
    if target.scheme and not target.host:  # "https:/path" and the like, as httpx reads them
        target = target.copy_with(host=request.url.host)
    return request.url.join(target)


def _timeout_phase(exc: httpx.TimeoutException) -> str:
    return {
        httpx.ConnectTimeout: "connect",
        httpx.ReadTimeout: "no data for the read timeout",
        httpx.PoolTimeout: "waiting for a connection",
    }.get(type(exc), type(exc).__name__)


async def _read(response: httpx.Response, limits: FetchLimits) -> FetchResult:
    headers = dict(response.headers.items())  # lower-case names, repeated ones joined
    retry_after = parse_retry_after(headers.get("retry-after"))
    if response.status_code >= 400:
        raise SourceError(
            f"HTTP {response.status_code} {response.reason_phrase}".strip(),
            "http_status",
            retry_after=retry_after,
        )
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise SourceError(f"declares {int(declared)} bytes, over {limits.max_bytes}", "too_large")
    content = b""
    if response.status_code == 304:
        # No body by definition, but closing a response before reading it to its end closes
        # the connection too: read it, and the next conditional GET reuses the connection.
        # (Raw: nothing to decode, and ``aread``'s decoder layers cost about 1% of a fetch.)
        async for _ in response.aiter_raw():
            pass
    else:
        content = await _read_body(response, headers.get("content-encoding", ""), limits)
    return FetchResult(
        url=str(response.url),
        status=response.status_code,
        content=content,
        content_type=headers.get("content-type", ""),
        validators=Validators(headers.get("etag"), headers.get("last-modified")),
        max_age=parse_max_age(headers.get("cache-control")),
        retry_after=retry_after,
    )


async def _read_body(response: httpx.Response, encoding: str, limits: FetchLimits) -> bytes:
    """The decoded body, refusing more than the caps on the wire and after decompression."""
    decoder = BoundedDecoder(encoding, limits.max_decoded_bytes)
    wire = 0
    parts: list[bytes] = []
    async for chunk in response.aiter_raw(CHUNK):
        wire += len(chunk)
        if wire > limits.max_bytes:
            raise SourceError(f"body over {limits.max_bytes} bytes on the wire", "too_large")
        parts.append(decoder.feed(chunk))
    parts.append(decoder.flush())
    return b"".join(parts)


class BoundedDecoder:
    """Content-Encoding decoding that never produces more than ``limit`` bytes in all."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding.strip().lower()
        self.limit = limit
        self.produced = 0
        if self.encoding in ("", "identity"):
            self._zlib = None
        elif self.encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.encoding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise SourceError(f"unsupported Content-Encoding {encoding!r}", "network")
        self._first = True

    def feed(self, data: bytes) -> bytes:
        if self._zlib is None:
            return self._count(data)
        try:
            return self._inflate(data)
        except zlib.error as exc:
            if self.encoding == "deflate" and self._first:
                # Some servers send raw deflate without the zlib header.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                return self.feed(data)
            raise SourceError(f"broken {self.encoding} body: {exc}", "network") from exc

    def _inflate(self, data: bytes) -> bytes:
        assert self._zlib is not None
        out: list[bytes] = []
        while data:
            room = self.limit - self.produced + 1
            out.append(self._count(self._zlib.decompress(data, room)))
            self._first = False
            data = self._zlib.unconsumed_tail
            if self._zlib.eof and self._zlib.unused_data:
                # A concatenated gzip member: start over on what follows.
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        return b"".join(out)

    def flush(self) -> bytes:
        return b"" if self._zlib is None else self._count(self._zlib.flush())

    def _count(self, data: bytes) -> bytes:
        self.produced += len(data)
        if self.produced > self.limit:
            raise SourceError(f"body over {self.limit} bytes after decompression", "too_large")
        return data


def parse_max_age(cache_control: str | None) -> timedelta | None:
    """``Cache-Control: max-age=N`` as a duration (None when absent or no-cache)."""
    if not cache_control or _NO_STORE.search(cache_control):
        return None
    match = _MAX_AGE.search(cache_control)
    return timedelta(seconds=int(match.group(1))) if match else None


def parse_retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """``Retry-After`` in seconds or as an HTTP date, as a duration from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - (now or datetime.now(UTC))
    return delta if delta > timedelta(0) else None
