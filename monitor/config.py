"""Load config.yaml once into typed, validated models; every problem reported with its key path."""

from __future__ import annotations

import logging
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor import safe_yaml
from monitor.classify.rules import TopicRules
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.sources.spider_options import CrawlOptions

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KIB|MIB|GIB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_SIZE_UNITS |= {"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
NAME_PATTERN = r"^[a-z0-9_-]+$"


def parse_duration(value: object) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 2h)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_size(value: object) -> int:
    """``512KB``, ``10MB``, ``1GB`` or a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"not a size: {value!r} (use e.g. 512KB, 10MB)")
        size = int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").upper()])
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


Size = Annotated[int, BeforeValidator(parse_size)]


class Defaults(_Strict):
    interval: Duration = timedelta(minutes=10)
    # Adaptive polling range (see monitor.schedule); unset: [interval, 6 x interval].
    min_interval: Duration | None = None
    max_interval: Duration | None = None


class FetchSettings(_Strict):
    """Limits on every feed fetch, so that no source can hurt the others."""

    connect_timeout: Duration = timedelta(seconds=10)
    read_timeout: Duration = timedelta(seconds=20)
    deadline: Duration = timedelta(seconds=60)
    max_bytes: Size = 10 * 1024 * 1024
    max_decoded_bytes: Size = 32 * 1024 * 1024
    max_redirects: int = Field(default=5, ge=0, le=30)
    per_host: int = Field(default=4, ge=1, le=64)


class FeedConfig(_Strict):
    """One RSS/Atom/JSON feed polled on a schedule."""

    name: Name
    url: str
    interval: Duration | None = None
    min_interval: Duration | None = None
    max_interval: Duration | None = None
    full_text: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"not an http(s) URL: {url!r}")
        return url


class SpiderConfig(BaseModel):
    """One Scrapy spider run on a schedule; keys other than these are the spider's settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Name
    spider: str
    url: str | None = None
    interval: Duration | None = None

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _known_spider_with_valid_settings(self) -> SpiderConfig:
        self.options  # noqa: B018 -- validated here so that a typo fails at config load
        return self

    @property
    def raw_options(self) -> dict[str, Any]:
        """The spider's settings as written: ``url`` plus its kind's own keys."""
        return {"url": self.url, **self.settings}

    @property
    def options(self) -> CrawlOptions:
        """The spider's typed settings, validated by its kind's model in SPIDER_OPTIONS."""
        from monitor.sources.spider_options import validate_options

        return validate_options(self.spider, self.raw_options)


class RateLimit(_Strict):
    """At most ``count`` messages per ``window`` (``10/10m``); the overflow goes as a digest."""

    count: int = Field(ge=1)
    window: timedelta


def parse_rate_limit(value: object) -> object:
    """``10/10m`` → RateLimit(count=10, window=10 minutes); anything else is left to pydantic."""
    if not isinstance(value, str):
        return value
    count, sep, window = value.partition("/")
    if not sep or not count.strip().isdigit():
        raise ValueError(f"not a rate limit: {value!r} (use e.g. 10/10m)")
    return RateLimit(count=int(count), window=parse_duration(window))


class NotifierConfig(_Strict):
    """Where alerts go. An empty ``url`` disables the notifier (with a warning).

    ``type`` names a class in ``monitor.notify.NOTIFIERS``. A failed send is retried with
    exponential backoff from ``backoff`` up to ``backoff_cap``; after ``max_attempts`` tries the
    alert is marked ``failed`` (``monitor deliver --retry-failed`` sends it again).
    """

    name: Name
    type: str
    url: str = ""
    secret: str | None = None
    topics: list[str] | None = None
    timeout: Duration = timedelta(seconds=10)
    max_attempts: int = Field(default=12, ge=1, le=1000)
    backoff: Duration = timedelta(seconds=15)
    backoff_cap: Duration = timedelta(hours=1)
    rate_limit: Annotated[RateLimit | None, BeforeValidator(parse_rate_limit)] = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, kind: str) -> str:
        from monitor.notify import NOTIFIERS  # late: the notifiers import this module

        if kind not in NOTIFIERS:
            known = ", ".join(sorted(NOTIFIERS))
            raise ValueError(f"unknown notifier type {kind!r} (known: {known})")
        return kind

    @model_validator(mode="after")
    def _usable(self) -> NotifierConfig:
        from monitor.notify import NOTIFIERS

        problem = NOTIFIERS[self.type].config_problem(self) if self.enabled else None
        if problem:
            raise ValueError(problem)
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.url.strip())

    def wants(self, topics: list[str]) -> bool:
        return self.topics is None or bool(set(self.topics) & set(topics))


class MetricsConfig(_Strict):
    """The optional Prometheus endpoint; loopback only unless ``host`` says otherwise."""

    port: int = Field(ge=1, le=65535)
    host: str = "127.0.0.1"


class RetentionConfig(_Strict):
    """Housekeeping: matches are kept forever; the text of unmatched articles may be pruned."""

    unmatched_text: Duration | None = None  # e.g. 90d; None keeps every article's text
    every: Duration = timedelta(days=1)
    optimize_fts: bool = True


class FollowUpConfig(_Strict):
    """Optional second alerts about a story that already alerted (both off by default)."""

    new_topic: bool = False
    sources: int = Field(default=0, ge=0)


class StoryConfig(_Strict):
    """How copies of one article across outlets are gathered into one story (one alert)."""

    window: Duration = timedelta(days=3)
    similarity: float = Field(default=0.45, gt=0.0, le=1.0)
    follow_up: FollowUpConfig = FollowUpConfig()


class Config(_Strict):
    """The whole validated configuration."""

    path: Path = Path("config.yaml")
    database: Path = Path("monitor.db")
    user_agent: str = "newsmonitor/0.1 (+https://example.org/contact)"
    defaults: Defaults = Defaults()
    feeds: list[FeedConfig] = []
    spiders: list[SpiderConfig] = []
    topics: dict[str, TopicRules] = Field(min_length=1)
    notifiers: list[NotifierConfig] = []
    stories: StoryConfig = StoryConfig()
    concurrency: int = Field(default=16, ge=1, le=256)
    log_format: Literal["human", "json"] = "human"
    metrics: MetricsConfig | None = None
    retention: RetentionConfig = RetentionConfig()
    fetch: FetchSettings = FetchSettings()

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        seen: set[str] = set()
        for kind, items in (("feeds", self.feeds), ("spiders", self.spiders)):
            for item in items:
                if item.name in seen:
                    raise ValueError(f"{kind}: source name {item.name!r} is used twice")
                seen.add(item.name)
        names = [n.name for n in self.notifiers]
        if len(names) != len(set(names)):
            raise ValueError("notifiers: a notifier name is used twice")
        for n in self.notifiers:
            unknown = set(n.topics or []) - set(self.topics)
            if unknown:
                raise ValueError(f"notifiers: {n.name}: unknown topics {sorted(unknown)}")
        return self

    def interval_of(self, source: FeedConfig | SpiderConfig) -> timedelta:
        return source.interval or self.defaults.interval

    @property
    def enabled_notifiers(self) -> list[NotifierConfig]:
        return [n for n in self.notifiers if n.enabled]


def expand_env(
    raw: Any, env: dict[str, str], problems: list[tuple[str, str]], key: str = ""
) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of the raw YAML tree."""
    if isinstance(raw, dict):
        return {
            k: expand_env(v, env, problems, f"{key}.{k}" if key else str(k)) for k, v in raw.items()
        }
    if isinstance(raw, list):
        return [expand_env(v, env, problems, f"{key}[{i}]") for i, v in enumerate(raw)]
    if not isinstance(raw, str):
        return raw

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append((key, f"environment variable {name} is not set"))
        return ""

    return _VAR.sub(substitute, raw)


def _key_path(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """Render a pydantic error location as ``feeds[2].url``, naming list items where possible."""
    out = ""
    node: Any = raw
    for part in loc:
        if isinstance(part, int):
            name = (
                node[part].get("name")
                if isinstance(node, list) and part < len(node) and isinstance(node[part], dict)
                else None
            )
            out += f"[{part}]" if not name else f"[{part}:{name}]"
        else:
            out += f".{part}" if out else str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Read, expand and validate a config file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = safe_yaml.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), [("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("", f"cannot read: {exc}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [("", f"not valid YAML: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise ConfigError(str(path), [("", "the top level must be a mapping")])
    problems: list[tuple[str, str]] = []
    expanded = expand_env(raw, dict(os.environ if env is None else env), problems)
    try:
        config = Config.model_validate({**expanded, "path": path})
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(
                (_key_path(err["loc"], expanded), err["msg"].removeprefix("Value error, "))
            )
        raise ConfigError(str(path), problems) from None
    if problems:
        raise ConfigError(str(path), problems)
    if not config.database.is_absolute():
        config = config.model_copy(update={"database": path.parent / config.database})
    for n in config.notifiers:
        if not n.enabled:
            log.warning("notifier %s is disabled: its url is empty", n.name)
    return config
