"""Config loading: env expansion, every error at once with its key path, exit status 2."""

from __future__ import annotations

import pytest
from conftest import REPO, run_monitor, write_config

from monitor.config import load_config
from monitor.errors import ConfigError


def test_example_config_is_valid_without_any_environment():
    config = load_config(REPO / "config.yaml", env={})

    assert len(config.feeds) >= 5
    assert config.enabled_notifiers == []  # no webhook URL set: notifiers disabled, not broken


def test_variables_and_defaults_are_expanded(tmp_path):
    path = write_config(
        tmp_path,
        """
user_agent: "bot/${VERSION:-1.0}"
feeds: [{name: a, url: "${BASE}/feed.xml", interval: 30s}]
notifiers: [{name: hook, type: webhook, url: "${HOOK}", secret: "${SECRET:-}"}]
""",
    )

    config = load_config(path, env={"BASE": "http://127.0.0.1:9", "HOOK": "http://h/x"})

    assert config.user_agent == "bot/1.0"
    assert config.feeds[0].url == "http://127.0.0.1:9/feed.xml"
    assert config.feeds[0].interval is not None and config.feeds[0].interval.total_seconds() == 30
    assert config.notifiers[0].enabled and not config.notifiers[0].secret


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path):
    path = write_config(
        tmp_path,
        """
feeds:
  - {name: good, url: "http://127.0.0.1/a.xml"}
  - {name: Bad Name, url: "ftp://nope", interval: soon}
notifiers: [{name: n, type: pager, url: "${UNSET_HOOK}"}]
""",
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    keys = {key for key, _ in caught.value.problems}
    assert "notifiers[0].url" in keys  # the unset variable
    assert "feeds[1:Bad Name].name" in keys
    assert "feeds[1:Bad Name].url" in keys
    assert "feeds[1:Bad Name].interval" in keys
    assert "notifiers[0:n].type" in keys
    assert "UNSET_HOOK" in str(caught.value)


def test_duplicate_source_names_are_refused(tmp_path):
    path = write_config(
        tmp_path,
        """
feeds:
  - {name: same, url: "http://127.0.0.1/a.xml"}
  - {name: same, url: "http://127.0.0.1/b.xml"}
""",
    )

    with pytest.raises(ConfigError, match="'same' is used twice"):
        load_config(path, env={})


def test_bad_config_exits_2_naming_file_and_key(tmp_path):
    path = write_config(tmp_path, "feeds: [{name: x, url: 'http://127.0.0.1/', interval: often}]")

    result = run_monitor("check-config", "--config", str(path))

    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "feeds[0:x].interval" in result.stderr
    assert "not a duration" in result.stderr


def test_missing_config_file_exits_2(tmp_path):
    result = run_monitor("poll", "--once", "--config", str(tmp_path / "nope.yaml"))

    assert result.returncode == 2
    assert "file not found" in result.stderr


def test_check_config_prints_what_would_run():
    result = run_monitor("check-config", "--config", str(REPO / "config.yaml"))

    assert result.returncode == 0, result.stderr
    assert "bbc-world" in result.stdout
    assert "DISABLED (empty url)" in result.stdout
    assert "disabled" in result.stderr  # the warning is logged too
