"""``monitor demo``: the offline tour runs end to end with the shipped rules."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO, run_monitor

from monitor.demo import load_demo_stories


def test_demo_shows_matches_why_and_the_alert_that_arrived():
    result = run_monitor("demo", "--config", str(REPO / "config.yaml"))

    assert result.returncode == 0, result.stderr
    out = result.stdout
    stories = load_demo_stories()
    for story in stories:
        verdict = "MATCHED" if story["expect"] else "skipped"
        assert f"{verdict:8} {story['title']}" in out
    assert "!!" not in out  # every story came out as the demo says it should
    assert re.search(r"prisoner_swap +score \d\.\d\d  why: \w+", out)
    matching = sum(bool(s["expect"]) for s in stories)
    assert f"{matching} alerts arrived at the webhook receiver" in out
    assert "signatures checked: all valid" in out
    assert "Idempotency-Key: " in out and '"event": "match"' in out
    scratch = re.search(r"database +(\S+)", out)
    assert scratch and not Path(scratch.group(1)).exists()  # the scratch database is gone


def test_demo_stories_ship_with_the_package():
    stories = load_demo_stories()

    notes = " ".join(s["note"] for s in stories)
    for kind in ("prisoner swap", "talks", "sports trade", "currency exchange", "exchange of fire"):
        assert kind in notes
