"""``monitor matches`` for a person at a terminal (a table) and for a program (JSON or CSV)."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys

from conftest import REPO, monitor_env, rss, run_monitor, write_config
from polling import poll_once
from stories import SPORTS, SWAP


def in_a_terminal(*args: str) -> str:
    """Run the CLI with a pseudo-terminal as its stdout, as when an operator types it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", *args],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env=monitor_env(COLUMNS="200", TERM="xterm-256color"),
        cwd=str(REPO),
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_matches_is_a_table_in_a_terminal_and_json_or_csv_for_programs(tmp_path, server):
    server.routes["/world.xml"] = rss([SWAP, SPORTS])
    config = write_config(tmp_path, f'feeds: [{{name: world, url: "{server.url("/world.xml")}"}}]')
    poll_once(config)

    table = in_a_terminal("matches", "--config", str(config))
    piped = run_monitor("matches", "--config", str(config))
    as_csv = run_monitor("matches", "--config", str(config), "--format", "csv")

    assert "prisoner_swap" in table and any(line in table for line in "━─│┃")  # drawn as a table
    assert "Russia and US complete" in table
    assert "\x1b]8;" in table  # the title is a clickable terminal hyperlink to the article
    rows = [json.loads(line) for line in piped.stdout.splitlines()]
    assert {r["topic"] for r in rows} >= {"prisoner_swap"} and rows[0]["url"].startswith("https://")
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert parsed and parsed[0]["url"].startswith("https://") and "title" in parsed[0]
