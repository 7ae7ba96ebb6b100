"""Where parse workers come from: a fork server that imported what they run, once.

Not plain fork: the process that writes runs threads and an event loop. The fork server is a
clean process that imports the parsers and the classifier; each worker is forked from it with
them loaded instead of importing them again (about 0.3 s each). This module is light on
purpose: a command can start the fork server before it imports anything heavy itself, so the
two sets of imports run side by side on two cores. Workers run at a lower priority than the
process they serve (``WORKER_NICENESS``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
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

# How far a worker's scheduling priority is lowered (POSIX nice). The process that fetches,
# stores and alerts is the one line of work every document passes through: when the cores are
# busy it should run first, and the workers take what it leaves.
WORKER_NICENESS = 10


def context() -> ForkServerContext:
    """The multiprocessing context parse workers start in."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(WORKER_MODULES)
    return forkserver


def start_early() -> None:
    """Start the fork server now, in the background, rather than when the first document
    arrives: a pass with new documents then finds its workers ready (its first batch is stored
    about 0.3 s sooner), and a quiet pass spends the fork server's imports on an idle core."""
    from multiprocessing import forkserver

    context()
    forkserver.ensure_running()


def in_background() -> None:
    """A parse worker's initializer: yield the CPU to the process that fetches and writes, and
    keep the garbage collector off what the fork server imported (``monitor.heap``)."""
    from monitor import heap

    # Where it is not permitted (a seccomp filter), the worker keeps its parent's priority.
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    heap.settle()
