"""Shared fixtures: the third-party corpora beside the repo, loopback servers, config files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path | None:
    """``../shared`` beside the checkout (or ``$NEWSMONITOR_SHARED``), if it is there."""
    candidate = Path(os.environ.get("NEWSMONITOR_SHARED", REPO.parent / "shared"))
    return candidate if (candidate / "SPEC.md").is_file() else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared corpora and data; tests that need them skip when they are absent."""
    path = shared_path()
    if path is None:
        pytest.skip("../shared (third-party corpora and labelled data) is not beside this checkout")
    return path
