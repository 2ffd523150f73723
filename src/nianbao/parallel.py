"""Map a function over items in worker processes, streaming results in order.

Used by collect and revalidate: workers do the CPU work (read, verify, validate, render
feedback), the parent consumes results as they come and writes the ledger alone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pmap(func: Callable[[T], R], items: Sequence[T], jobs: int,
         initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
         min_items: int = 8) -> Iterator[R]:
    """`map(func, items)`, in `jobs` processes when it is worth it; results in order."""
    if jobs <= 1 or len(items) < min_items:
        if initializer:
            initializer(*initargs)
        yield from map(func, items)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    chunk = max(1, min(32, len(items) // (jobs * 8)))
    with mp.get_context(method).Pool(jobs, initializer=initializer, initargs=initargs) as pool:
        yield from pool.imap(func, items, chunksize=chunk)
