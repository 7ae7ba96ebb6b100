"""One real poll pass in the test process (loopback HTTP, real SQLite), without a CLI start-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.config import load_config
from monitor.service import PassReport, Service


def poll_once(config: Path) -> PassReport:
    """What ``monitor poll --once`` does, minus delivery."""

    async def once() -> PassReport:
        async with Service(load_config(config)) as service:
            return await service.poll_all()

    return asyncio.run(once())
