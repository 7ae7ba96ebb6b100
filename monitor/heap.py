"""Keeping the cyclic garbage collector out of the way of a process that polls.

Reference counting frees nearly everything a poll makes (responses, parsed entries, rows);
the cyclic collector only has to find the rare cycle. By default it runs every 700 net
allocations, and a cold pass allocates millions of objects in bursts: the writing process
spent about 0.09 s and each parse worker about 0.03 s of it collecting, mostly walking the
same young articles again and again before they were promoted. Every 10,000 allocations
it finds the same cycles at a little over half that cost.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 20, 50)


def settle() -> None:
    """Call once a process's start-up imports are done: they live as long as the process, and
    ``gc.freeze`` keeps the collector from walking their hundred thousand objects again at
    every full collection (and at exit); later collections come less often."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
