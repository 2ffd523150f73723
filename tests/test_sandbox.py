"""The sandbox: each failure kind of a child is reported for its item alone, in order, and
the rest of the batch goes on (collect and revalidate stand on this)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from nianbao.sandbox import Failure, Limits, _Worker, sandboxed_map

MIB = 1024 * 1024


def _work(item: Any) -> Any:
    """What a child does with one test item: most return, some misbehave on purpose."""
    kind, value = item
    if kind == "ok":
        return value * 2
    if kind == "alloc":  # one request far above the limit: refused inside the child
        return len(bytearray(value))
    if kind == "exit":  # the child vanishes, as one killed by the kernel would
        os._exit(3)
    if kind == "sleep":
        time.sleep(value)
        return value
    raise RuntimeError(f"bad item {value}")


def _run(items: list[tuple[str, Any]], **kwargs: Any) -> list[Any]:
    return list(sandboxed_map(_work, items, on_failure=lambda item, why: why, **kwargs))


@pytest.mark.parametrize("jobs", [1, 2])
def test_memory_overrun_fails_its_item_only(jobs: int) -> None:
    items = [("ok", 1), ("alloc", 4096 * MIB), ("ok", 3), ("ok", 4)]
    out = _run(items, jobs=jobs, limits=Limits(memory=256 * MIB, timeout=30), chunk=2)
    assert out[0] == 2 and out[2:] == [6, 8]
    assert isinstance(out[1], Failure) and out[1].kind == "memory"


def test_an_allocation_within_the_limit_succeeds() -> None:
    out = _run([("alloc", 64 * MIB)], limits=Limits(memory=256 * MIB, timeout=30))
    assert out == [64 * MIB]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_dying_child_fails_its_item_and_the_chunk_is_retried(jobs: int) -> None:
    items = [("ok", i) for i in range(5)] + [("exit", 0)] + [("ok", i) for i in range(5, 12)]
    out = _run(items, jobs=jobs, limits=Limits(timeout=30), chunk=4)
    assert [o for o in out if not isinstance(o, Failure)] == [i * 2 for i in range(12)]
    assert isinstance(out[5], Failure) and out[5].kind == "died"


def test_an_overrun_deadline_fails_its_item_and_the_batch_goes_on() -> None:
    items = [("ok", 1), ("sleep", 30), ("ok", 2)]
    out = _run(items, jobs=2, limits=Limits(timeout=0.5), chunk=1)
    assert out[0] == 2 and out[2] == 4
    assert isinstance(out[1], Failure) and out[1].kind == "timeout"


def test_an_exception_is_an_error_not_a_crash_and_the_child_stays_usable() -> None:
    items = [("ok", 1), ("raise", 7), ("ok", 2)]
    out = _run(items, jobs=1, chunk=3)
    assert out[0] == 2 and out[2] == 4
    assert out[1] == Failure("error", "RuntimeError: bad item 7")


def test_results_come_back_in_input_order() -> None:
    items = [("sleep", 0.05 if i % 3 == 0 else 0) for i in range(20)]
    assert _run(items, jobs=2, chunk=1) == [0.05 if i % 3 == 0 else 0 for i in range(20)]


def test_tasks_waiting_behind_an_overrun_are_run_again() -> None:
    """A child has the next task already (it never idles while the parent writes the
    ledger); when the running one overruns, the waiting one is run again, in full time."""
    items = [("sleep", 30), ("sleep", 0.3), ("ok", 2), ("ok", 3)]
    out = _run(items, jobs=1, limits=Limits(timeout=0.5), chunk=1)
    assert isinstance(out[0], Failure) and out[0].kind == "timeout"
    assert out[1:] == [0.3, 4, 6]


def test_a_task_given_to_a_child_that_just_died_is_kept() -> None:
    """The parent may send a child its next task just after the child died (on the task it
    held already): the send must not fail; the task stays, to be run again."""
    import multiprocessing as mp

    worker = _Worker(mp.get_context("fork"), _work, Limits(), None, ())
    worker.give([(0, ("exit", 0))], 5.0)
    worker.proc.join(5)
    assert not worker.proc.is_alive()
    worker.give([(1, ("ok", 1))], 5.0)  # (the pipe is broken: this must not raise)
    assert [t[0][0] for t in worker.tasks] == [0, 1]
    worker.kill()
