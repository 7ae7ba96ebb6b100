"""The ``monitor`` command: the only place errors become exit codes and messages.

Exit status: 0 success, 2 bad usage or bad config, 1 any other failure. A failing source is
never a failure of a command: it is recorded on the source and shown by ``monitor feeds``.
Heavy modules are imported inside each command so ``monitor --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.errors import ConfigError, MonitorError

# httpx imports its own command-line client (with rich, click and pygments: about 50 ms)
# whenever those are installed, as they are beside newsmonitor, which never runs it. A None
# in sys.modules makes that one import fail as httpx expects when they are missing: it then
# defines a stub ``httpx.main`` instead. Nothing else of httpx changes.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

if TYPE_CHECKING:
    from monitor.config import Config, FeedConfig

Command = Callable[[argparse.Namespace], int]


class UsageError(MonitorError):
    """The command line names something that does not exist (exit 2)."""


COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    """Register a subcommand implementation under ``name``."""

    def register(func: Command) -> Command:
        COMMANDS[name] = func
        return func

    return register


def load(args: argparse.Namespace) -> Config:
    from monitor.config import load_config

    config = load_config(args.config)
    if args.log_format is None and config.log_format != "human":
        from monitor.logging import configure_logging

        configure_logging(config.log_format, args.verbose)
    return config


def _start_parse_workers(config: Config, only_if_sure: bool = False) -> None:
    """Start the parse workers' fork server now, so its imports run beside this process's own
    (see ``monitor.sources.workers``): always for the daemon, which will need it; for one
    pass (``only_if_sure``) when a feed that is not failing has never delivered a document,
    so its first will be parsed. A pass that may well find nothing new leaves it to the first
    new document."""
    if not config.feeds:
        return
    if only_if_sure:
        from monitor.store import first_documents_due

        if not first_documents_due(config.database, (feed.name for feed in config.feeds)):
            return
    from monitor.sources import workers

    try:
        workers.start_early()
    except OSError as exc:  # no room for its socket or process: the first document tries again
        import logging

        logging.getLogger(__name__).warning("could not start the parse workers early: %s", exc)


def _settle_imports() -> None:
    """The modules imported so far live as long as the process (``monitor.heap``: freezing
    them took about a tenth off a quiet ``poll --once``)."""
    from monitor import heap

    heap.settle()


def existing_database(config: Config) -> Path:
    """The config's database, which commands that only read the log must not create."""
    if not config.database.is_file():
        raise MonitorError(f"no database at {config.database} (has the service run yet?)")
    return config.database


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


# -- commands -------------------------------------------------------------------------------


@command("run")
def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM or SIGINT."""
    from monitor.sources import tls

    tls.preload()
    config = load(args)
    _start_parse_workers(config)
    from monitor.daemon import run_daemon

    _settle_imports()
    run_daemon(config)
    return 0


@command("poll")
def cmd_poll(args: argparse.Namespace) -> int:
    """One pass over every feed, then deliver what it enqueued."""
    from monitor.sources import tls

    tls.preload()
    config = load(args)
    _start_parse_workers(config, only_if_sure=True)
    from monitor.service import poll_and_deliver

    _settle_imports()
    report = asyncio.run(poll_and_deliver(config))
    ingest, delivery = report.ingest, report.delivery
    print(
        f"{report.sources} feeds polled ({report.failed} failed): {ingest.seen} entries,"
        f" {ingest.new} new, {ingest.matched} matched, {ingest.alerts} alerts queued;"
        f" {delivery.sent} sent, {delivery.retrying} to retry, {delivery.failed} failed"
    )
    return 0


@command("deliver")
def cmd_deliver(args: argparse.Namespace) -> int:
    """Try every pending alert once now (and failed ones too, with ``--retry-failed``)."""
    from monitor.service import Service

    config = load(args)

    async def once() -> int:
        async with Service(config) as service:
            if args.retry_failed:
                again = service.store.retry_failed(list(service.notifiers))
                print(f"{again} failed alerts queued again")
            report = await service.deliver(including_not_due=True)
        line = f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed"
        if report.digests:
            line += f" ({report.digests} digests)"
        if report.held:
            line += f", {report.held} held by rate limits or pauses"
        print(line)
        return 0

    return asyncio.run(once())


@command("alerts")
def cmd_alerts(args: argparse.Namespace) -> int:
    """Alerts in the outbox, newest first, by status."""
    from monitor.store import Store

    config = load(args)
    store = Store(config.database)
    status = None if args.status == "all" else args.status
    rows = store.alert_rows(status=status, notifier=args.notifier, limit=args.limit)
    counts = store.alert_counts()
    store.close()
    columns = ["created_at", "notifier", "status", "attempts", "sent_at", "title", "last_error"]
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if fmt == "json":
        for row in rows:
            _print_json({**row, "topics": json.loads(row["topics"] or "[]")})
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["id", *columns, "digest_id", "url"])
        for row in rows:
            writer.writerow([row["id"], *(row[c] for c in columns), row["digest_id"], row["url"]])
    else:
        _alerts_table(rows, counts)
    return 0


def _alerts_table(rows: list[dict[str, Any]], counts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    table = Table(title=f"{len(rows)} alerts shown (all: {summary})")
    for column in (
        "created",
        "notifier",
        "status",
        "tries",
        "sent / next try",
        "title",
        "last error",
    ):
        table.add_column(column, overflow="fold")
    styles = {"failed": "red", "pending": "yellow"}
    for row in rows:
        sent = (row["sent_at"] or "")[:16] + (" (digest)" if row["digest_id"] else "")
        if row["status"] == "pending":
            sent = f"next {(row['next_attempt_at'] or '')[:19]}"
        table.add_row(
            row["created_at"][:16],
            row["notifier"],
            row["status"],
            str(row["attempts"]),
            sent,
            f"[link={row['url']}]{row['title'] or row['url']}[/link]",
            row["last_error"] or "",
            style=styles.get(row["status"], ""),
        )
    Console().print(table)


@command("test-notify")
def cmd_test_notify(args: argparse.Namespace) -> int:
    """Send a sample alert through one notifier so an operator can check the channel."""
    import httpx

    from monitor.errors import DeliveryError
    from monitor.notify import build_notifier
    from monitor.notify.payload import sample_payload

    config = load(args)
    found = [n for n in config.notifiers if n.name == args.name]
    if not found:
        known = ", ".join(n.name for n in config.notifiers) or "none configured"
        raise ConfigError(
            str(config.path), [("notifiers", f"no notifier named {args.name!r} (known: {known})")]
        )
    if not found[0].enabled:
        raise ConfigError(
            str(config.path),
            [(f"notifiers[{args.name}].url", "is empty, so the notifier is disabled")],
        )
    notifier = build_notifier(found[0])
    payload = sample_payload(notifier.name)

    async def send() -> None:
        async with httpx.AsyncClient(headers={"User-Agent": config.user_agent}) as client:
            await notifier.send(client, payload)

    try:
        asyncio.run(send())
    except DeliveryError as exc:
        raise MonitorError(
            f"test alert to {notifier.name} ({found[0].type}) failed: {exc}"
        ) from exc
    print(f"test alert {payload['id']} sent to {notifier.name} ({found[0].type})")
    return 0


@command("crawl")
def cmd_crawl(args: argparse.Namespace) -> int:
    """Run the named spiders (all when none is named) once, then deliver what they enqueued."""
    config = load(args)
    known = {s.name: s for s in config.spiders}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        names = ", ".join(known) or "none are configured"
        raise UsageError(f"unknown spider {', '.join(unknown)} (configured: {names})")
    chosen = [known[n] for n in args.names] if args.names else list(config.spiders)
    if not chosen:
        print("no spiders are configured")
        return 0
    from monitor.models import IngestReport
    from monitor.service import Service

    async def once() -> int:
        total, failed = IngestReport(), 0
        async with Service(config) as service:
            for spider in chosen:
                report = await service.crawl_spider(spider, verbose=args.verbose)
                if report is None:
                    failed += 1
                else:
                    total += report
            delivery = await service.deliver()
        print(
            f"{len(chosen)} spiders crawled ({failed} failed): {total.seen} articles,"
            f" {total.new} new, {total.matched} matched, {total.alerts} alerts queued;"
            f" {delivery.sent} sent, {delivery.retrying} to retry, {delivery.failed} failed"
        )
        return 0

    return asyncio.run(once())


@command("classify")
def cmd_classify(args: argparse.Namespace) -> int:
    """Classify JSON Lines (or one plain-text article) without storing anything."""
    from monitor.classify import Classifier

    classifier = Classifier(load(args).topics)
    status = 0
    for row in _classify_inputs(_read_input(args.file)):
        if isinstance(row, str):
            print(row, file=sys.stderr)
            status = 1
            continue
        title = str(row.get("title") or "")
        result = classifier.classify(title, str(row.get("text") or row.get("summary") or ""))
        if args.explain:
            from monitor.classify.explain import explain

            label = None if row.get("id") is None else str(row["id"])
            print(explain(result, title, label) + "\n")
        else:
            _print_json({"id": row.get("id"), **result.as_dict()})
    return status


def _read_input(file: str | None) -> str:
    """The whole of FILE, or of stdin for ``-`` or no FILE."""
    if file in (None, "-"):
        return sys.stdin.read()
    try:
        with open(str(file), encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise MonitorError(f"cannot read {file}: {exc.strerror or exc}") from exc


@command("eval")
def cmd_eval(args: argparse.Namespace) -> int:
    """Measure the configured rules on labelled JSON Lines: precision, recall, F1, mistakes."""
    from monitor.classify import Classifier
    from monitor.classify.evaluate import evaluate

    classifier = Classifier(load(args).topics)
    rows, status = [], 0
    for row in _classify_inputs(_read_input(args.file)):
        if isinstance(row, dict) and not isinstance(row.get("labels"), list):
            row = f"row {row.get('id')!r}: no 'labels' list"
        if isinstance(row, str):
            print(row, file=sys.stderr)
            status = 1
            continue
        rows.append(row)
    result = evaluate(rows, classifier)
    if args.format == "json":
        _print_json(result.as_dict())
        return status
    print(f"{result.rows} labelled articles")
    print(f"{'topic':16} {'precision':>9} {'recall':>7} {'F1':>6}   tp  fp  fn   tn")
    for score in result.topics.values():
        print(
            f"{score.topic:16} {score.precision:9.3f} {score.recall:7.3f} {score.f1:6.3f}"
            f"  {score.tp:3} {score.fp:3} {score.fn:3} {score.tn:4}"
        )
    if result.mistakes:
        print(f"\n{len(result.mistakes)} mistakes:")
    for m in result.mistakes:
        print(f"  {m.id:8} {m.topic:14} {m.kind:15} score {m.score:.2f}  {m.title}")
        if m.note:
            print(f"  {'':8} note: {m.note}")
        if m.why:
            print(f"  {'':8} why: {', '.join(m.why[:8])}")
    return status


@command("reclassify")
def cmd_reclassify(args: argparse.Namespace) -> int:
    """Re-run the current rules over stored articles; record new matches; alert with --alert."""
    from monitor.config import parse_duration
    from monitor.service import Service

    config = load(args)
    try:
        since = parse_duration(args.since) if args.since != "all" else None
    except ValueError as exc:
        print(f"--since: {exc}", file=sys.stderr)
        return 2

    async def replay() -> int:
        async with Service(config) as service:
            report = service.pipeline.replay(since, alert=args.alert)
            delivery = await service.deliver() if args.alert else None
        for article, topics in report.stories:
            print(f"new match {','.join(topics)}: {article.title} <{article.url}>")
        print(
            f"{report.articles} stored articles re-classified: {report.matched} match,"
            f" {report.new_matches} new matches recorded"
            + (
                f"; {report.alerts} alerts queued, {delivery.sent} sent,"
                f" {delivery.retrying} to retry, {delivery.failed} failed"
                if delivery is not None
                else " (no alerts: use --alert to send them)"
            )
        )
        return 0

    return asyncio.run(replay())


def _classify_inputs(data: str) -> list[dict[str, Any] | str]:
    """Rows to classify, or error strings for lines that are not JSON objects."""
    if not data.lstrip().startswith("{"):
        lines = data.strip().splitlines()
        title = lines[0] if lines else ""
        return [{"id": None, "title": title, "text": "\n".join(lines[1:])}]
    rows: list[dict[str, Any] | str] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(f"line {number}: not valid JSON: {exc.msg}")
            continue
        if not isinstance(row, dict):
            rows.append(f"line {number}: expected a JSON object")
            continue
        rows.append(row)
    return rows


@command("check-config")
def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config and print what would run."""
    config = load(args)
    print(f"config {config.path}: OK")
    print(f"database: {config.database}")
    print(f"feeds ({len(config.feeds)}):")
    for f in config.feeds:
        print(f"  {f.name:24} every {_feed_range(config, f)}  {f.url}")
    print(f"spiders ({len(config.spiders)}):")
    for s in config.spiders:
        every = _human(config.interval_of(s).total_seconds())
        print(f"  {s.name:24} every {every:>6}  {s.spider} {s.url or ''}")
    print(f"topics: {', '.join(config.topics)}")
    print(f"notifiers ({len(config.notifiers)}):")
    for n in config.notifiers:
        state = "enabled" if n.enabled else "DISABLED (empty url)"
        topics = ", ".join(n.topics) if n.topics else "all topics"
        rate = n.rate_limit
        limit = f"; at most {rate.count} per {_human(rate.window.total_seconds())}" if rate else ""
        print(f"  {n.name:24} {n.type:8} {state}; {topics}{limit}")
    retention = config.retention
    keep = retention.unmatched_text
    pruning = (
        f"unmatched text pruned after {_human(keep.total_seconds())}" if keep else "all text kept"
    )
    print(f"housekeeping: every {_human(retention.every.total_seconds())}, {pruning}")
    metrics = config.metrics
    print(f"metrics: {f'http://{metrics.host}:{metrics.port}/metrics' if metrics else 'off'}")
    return 0


def _feed_range(config: Config, feed: FeedConfig) -> str:
    """``10m (5m-1h)``: the feed's interval and the range adaptive scheduling keeps to."""
    from monitor.schedule import policy_for

    policy = policy_for(config, feed)
    low, high = (_human(d.total_seconds()) for d in (policy.min_interval, policy.max_interval))
    return f"{_human(policy.interval.total_seconds()):>6} ({low}-{high})"


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@command("matches")
def cmd_matches(args: argparse.Namespace) -> int:
    """Recent matches, newest first: one row per story and topic, with the other sources that
    carried the story ("also reported by")."""
    from monitor.config import parse_duration
    from monitor.store import Store

    config = load(args)
    since = parse_duration(args.since) if args.since else None
    store = Store(config.database)
    rows = store.recent_story_matches(since=since, topic=args.topic, limit=args.limit)
    sources = store.story_sources([r["story_id"] for r in rows if r["story_id"] is not None])
    store.close()
    for row in rows:
        carried = sources.get(row["story_id"], [])
        row["also_reported_by"] = [s for s in carried if s != row["source"]]
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if fmt == "json":
        for row in rows:
            _print_json(
                {
                    **row,
                    "why": json.loads(row["why"] or "[]"),
                    "entities": json.loads(row["entities"] or "[]"),
                }
            )
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        columns = ["matched_at", "topic", "score", "source", "title", "url", "why"]
        writer.writerow([*columns, "also_reported_by"])
        for row in rows:
            writer.writerow([row[c] for c in columns] + ["; ".join(row["also_reported_by"])])
    else:
        _matches_table(rows)
    return 0


def _matches_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} matches", show_lines=False)
    for column in ("matched", "topic", "score", "source", "title", "why", "also reported by"):
        table.add_column(column, overflow="fold")
    for row in rows:
        title = f"[link={row['url']}]{row['title'] or row['url']}[/link]"
        why = ", ".join(json.loads(row["why"] or "[]"))
        table.add_row(
            row["matched_at"][:16].replace("T", " "),
            row["topic"],
            f"{row['score']:.2f}",
            row["source"],
            title,
            why,
            ", ".join(row["also_reported_by"]),
        )
    Console().print(table)


@command("feeds")
def cmd_feeds(args: argparse.Namespace) -> int:
    """Health of every source."""
    from monitor.store import Store

    config = load(args)
    store = Store(config.database)
    store.sync_sources(
        [(f.name, "feed", f.url) for f in config.feeds]
        + [(s.name, "spider", s.url) for s in config.spiders]
    )
    configured = {f.name for f in config.feeds} | {s.name for s in config.spiders}
    rows = [r for r in store.source_rows() if r["name"] in configured]
    store.close()
    if args.format == "json" or (args.format is None and not sys.stdout.isatty()):
        for row in rows:
            _print_json(row)
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(rows)} sources")
    for column in (
        "name",
        "kind",
        "health",
        "last success",
        "last error",
        "next poll",
        "every",
        "articles",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        failures = r["consecutive_failures"] or 0
        error = escape(r["last_error"] or "")  # a server's words are not markup
        if error and r.get("last_error_kind"):
            error = f"{r['last_error_kind']}: {error}"
        every = r.get("poll_interval")
        table.add_row(
            r["name"],
            r["kind"],
            _health(r),
            r["last_success"] or "never",
            error,
            r["next_poll"] or "",
            _human(round(every)) if every else "",
            str(r["articles_total"] or 0),
            style="red" if failures else "",
        )
    Console().print(table)
    return 0


def _health(row: dict[str, Any]) -> str:
    """``ok`` plus how the last poll went, ``failing ×N``, or ``never polled``."""
    failures = row["consecutive_failures"] or 0
    if failures:
        return f"failing x{failures}"
    if not row["last_polled"]:
        return "never polled"
    status = row.get("last_status")
    return f"ok ({status})" if status else "ok"


@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    """An offline tour: a sample feed and receiver on 127.0.0.1, one pass, what matched and why."""
    from monitor.demo import run_demo

    return run_demo(load(args))


@command("status")
def cmd_status(args: argparse.Namespace) -> int:
    """Summarise the running service from its database."""
    from monitor.status import render_status, service_status

    config = load(args)
    status = service_status(existing_database(config), config)
    if args.format == "json" or (args.format is None and not sys.stdout.isatty()):
        _print_json(status)
    else:
        print(render_status(status))
    return 0


@command("backup")
def cmd_backup(args: argparse.Namespace) -> int:
    """Write an online, consistent copy of the database to PATH."""
    from monitor.store import Store

    config = load(args)
    destination = Path(args.path)
    if destination.is_dir():
        destination = destination / config.database.name
    if destination.resolve() == config.database.resolve():
        raise MonitorError("the backup path is the live database itself")
    store = Store(existing_database(config))
    try:
        store.backup(destination)
    except OSError as exc:
        raise MonitorError(f"cannot write {destination}: {exc}") from exc
    finally:
        store.close()
    print(f"backed up {config.database} to {destination} ({destination.stat().st_size:,} bytes)")
    return 0


@command("review")
def cmd_review(args: argparse.Namespace) -> int:
    """Browse the log in Datasette on 127.0.0.1."""
    from monitor.review import serve_review
    from monitor.store import Store

    config = load(args)
    Store(existing_database(config)).close()  # brings an older log's schema up to date
    return serve_review(config.database, args.port, open_browser=not args.no_browser)


# -- argument parsing -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=os.environ.get("MONITOR_CONFIG", "config.yaml"),
        help="config file (default: $MONITOR_CONFIG, else ./config.yaml)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    common.add_argument(
        "--log-format",
        choices=["human", "json"],
        help="log lines for people (default) or one JSON object per line (config: log_format)",
    )
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch news sources and alert a team when a prisoner-swap or diplomacy story breaks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    add("run", "run the daemon: poll, crawl and deliver until SIGTERM/SIGINT")
    poll = add("poll", "one pass over every feed, then deliver, then exit")
    poll.add_argument("--once", action="store_true", help="poll once and exit (the only mode)")
    crawl = add("crawl", "run spiders once through the same pipeline")
    crawl.add_argument("names", nargs="*", metavar="NAME")
    deliver = add("deliver", "try every pending alert once now")
    deliver.add_argument(
        "--retry-failed", action="store_true", help="queue failed alerts again first"
    )
    alerts = add("alerts", "alerts in the outbox by status")
    alerts.add_argument("--status", choices=["all", "pending", "sent", "failed"], default="all")
    alerts.add_argument("--notifier")
    alerts.add_argument("--limit", type=int, default=50)
    alerts.add_argument("--format", choices=["table", "json", "csv"])
    test_notify = add("test-notify", "send a sample alert through one notifier")
    test_notify.add_argument("name", metavar="NAME")
    add("demo", "an offline tour: sample stories, the config's rules, and the alert that arrives")
    classify = add("classify", "classify JSON Lines or one plain-text article; store nothing")
    classify.add_argument("file", nargs="?", metavar="FILE|-")
    classify.add_argument(
        "--explain", action="store_true", help="explain each verdict for a person, not JSON"
    )
    evaluate = add("eval", "measure the rules on labelled JSON Lines: precision, recall, F1")
    evaluate.add_argument("file", metavar="FILE|-", help="rows with id, title, text, labels")
    evaluate.add_argument("--format", choices=["text", "json"], default="text")
    reclassify = add(
        "reclassify", "re-run the current rules over stored articles and record new matches"
    )
    reclassify.add_argument(
        "--since", default="30d", help="articles fetched within this long (e.g. 7d, 24h) or 'all'"
    )
    reclassify.add_argument(
        "--alert", action="store_true", help="also alert about stories that gained a match"
    )
    add("check-config", "validate the config and print what would run")
    matches = add("matches", "recent matches")
    matches.add_argument("--since", help="e.g. 24h, 7d")
    matches.add_argument("--topic")
    matches.add_argument("--limit", type=int, default=50)
    matches.add_argument("--format", choices=["table", "json", "csv"])
    feeds = add("feeds", "health of every source")
    feeds.add_argument("--format", choices=["table", "json"])
    status = add("status", "summarise the running service from its database")
    status.add_argument("--format", choices=["text", "json"])
    backup = add("backup", "write an online, consistent copy of the database to PATH")
    backup.add_argument("path", metavar="PATH")
    review = add("review", "browse the log in Datasette on 127.0.0.1")
    review.add_argument("--port", type=int, default=8001, help="default 8001")
    review.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from monitor.logging import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging(args.log_format or "human", args.verbose)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
