"""Where parse workers come from: a fork server that imported what they run, once.

Not plain fork: the process that writes runs threads and an event loop. The fork server is a
clean process that imports the parsers and the classifier; each worker is forked from it with
them loaded instead of importing them again (about 0.3 s each). This module is light on
purpose: a command can start the fork server before it imports anything heavy itself, so the
two sets of imports run side by side on two cores.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import ForkServerContext

# What a parse worker runs: loaded once in the fork server the workers are forked from.
WORKER_MODULES = [
    "monitor.sources.parse",
    "fastfeedparser",
    "feedparser",
    "monitor.analysis",
    "monitor.classify.classifier",
    "monitor.dedupe",  # and numpy: fingerprints are taken beside the parsing
]


def context() -> ForkServerContext:
    """The multiprocessing context parse workers start in."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(WORKER_MODULES)
    return forkserver


def start_early() -> None:
    """Start the fork server now, in the background, rather than when the first document
    arrives: a pass with new documents then finds its workers ready (about half a second
    sooner), and a quiet pass spends the fork server's imports on an otherwise idle core."""
    from multiprocessing import forkserver

    context()
    forkserver.ensure_running()
