"""Run independent build work on every core: a fork pool that inherits the parent's state.

Workers are forked after the parent has imported kfp or Pulumi and built the IR, so they
pay no import cost and receive no pickled IR: the parent publishes the shared inputs in
`SHARED` before forking and sends only small task descriptions. On platforms without fork,
when the parent already runs other threads, or for small batches, work runs in the parent
(same results, one core).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

SHARED: dict[str, Any] = {}
"""Inputs the parent prepares for the workers it is about to fork."""


def default_jobs() -> int:
    """Worker processes to use: MLPLAT_JOBS, else the CPUs this process may run on."""
    configured = os.environ.get("MLPLAT_JOBS")
    if configured and configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def fork_available() -> bool:
    return sys.platform != "win32" and "fork" in multiprocessing.get_all_start_methods()


def fork_safe() -> bool:
    """Forking is only safe while this process runs a single thread: a thread holding a lock
    at fork time leaves the child waiting on it forever (Pulumi's runs leave asyncio
    executor threads behind, so program runs happen in workers, never in the parent)."""
    return fork_available() and threading.active_count() == 1


def map_unordered(
    function: Callable[[T], R],
    tasks: Sequence[T],
    jobs: int,
    *,
    min_batch: int = 2,
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[R]:
    """Results of `function` over `tasks`, in parallel when it pays; order not guaranteed.

    `meanwhile` is work of this process that the tasks do not need: it runs once the workers
    have started (so this process is not idle while they run, and its work does not wait for
    them), or first when the tasks run here. It must not fork, except beside a single task
    (`min_batch=1`), which runs in a forked process of its own (`Forked`).
    """
    if jobs <= 1 or len(tasks) < min_batch or not fork_safe():
        if meanwhile is not None:
            meanwhile()
        yield from map(function, tasks)
        return
    if len(tasks) == 1 and meanwhile is not None:
        # one task beside this process's own work: a forked process, not a pool, so this
        # process runs no helper threads and `meanwhile` may still use workers of its own
        forked = Forked(function, tasks[0])
        meanwhile()
        yield forked.result()
        return
    context = multiprocessing.get_context("fork")
    chunk = max(1, len(tasks) // (jobs * 8))
    with context.Pool(processes=min(jobs, len(tasks)), initializer=gc.freeze) as pool:
        results = pool.imap_unordered(function, tasks, chunksize=chunk)
        if meanwhile is not None:
            meanwhile()
        yield from results


class Forked(Generic[R]):
    """`function(argument)` in a forked child process, its result read back through a pipe.

    Unlike a pool, it starts no thread in this process, so this process can fork again
    while the child runs. The child's exception is raised by `result`."""

    def __init__(self, function: Callable[[T], R], argument: T) -> None:
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_run_forked, args=(function, argument, send), daemon=True
        )
        self._process.start()
        send.close()

    def result(self) -> R:
        try:
            ok, value = self._receive.recv()  # before join: a large result fills the pipe
        except EOFError:
            self._process.join()
            raise RuntimeError(
                f"a worker process ended without a result (exit code {self._process.exitcode})"
            ) from None
        finally:
            self._receive.close()
        self._process.join()
        if not ok:
            raise value
        return value


def _run_forked(function: Callable[[Any], Any], argument: Any, send: Any) -> None:
    gc.freeze()
    try:
        result: tuple[bool, Any] = (True, function(argument))
    except BaseException as exc:  # handed to the parent, which raises it
        result = (False, exc)
    try:
        send.send(result)
    except Exception as exc:  # an exception that does not pickle
        send.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        send.close()
