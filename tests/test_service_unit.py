"""The shipped systemd unit: what the README promises, hardened, and clean for systemd-analyze."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

UNIT = REPO / "systemd" / "newsmonitor.service"


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return path


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_unit_runs_the_daemon_as_a_watched_notify_service():
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    assert int(s["WatchdogSec"][0]) > 0
    assert s["ExecStart"][0].split()[1:3] == ["run", "--config"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["StateDirectory"] == ["newsmonitor"]
    assert "EnvironmentFile" in s or "LoadCredential" in s


def test_unit_exposure_is_2_or_lower():
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0, result.stdout


def test_unit_passes_systemd_analyze_verify(tmp_path):
    """verify insists that ExecStart's program exists, and /opt/newsmonitor is not installed
    here: check a copy that differs only in pointing ExecStart at this Python."""
    executable = UNIT.read_text().split("ExecStart=", 1)[1].split()[0]
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(executable, sys.executable))
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(copy)], capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
