"""Executors run independent tasks (replications, sweep points) and yield results as they finish.

The seam is one method, ``map_unordered(fn, tasks)``: results carry their own index, so the
output never depends on the executor, the number of workers or the order of completion.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from twin.errors import InputError

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs independent tasks, yielding their results as they finish."""

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """``fn(task)`` for each of ``tasks``, in the order they finish."""


class SerialExecutor:
    """Runs tasks one after another in this process."""

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """``fn(task)`` for each task, in order, in this process."""
        for task in tasks:
            yield fn(task)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # the parent died (killed, perhaps): no orphans
            os._exit(1)


def _worker_init() -> None:
    """In each worker: Ctrl-C (sent to the whole process group) is the parent's to handle, and
    it ends the workers itself; SIGTERM ends a worker; a worker whose parent dies exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's processes at once (an interrupt, or an error): tasks running are
    abandoned, the pool is not waited for."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 3.0
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(1.0)


class LocalExecutor:
    """Runs tasks on local worker processes (default: one per CPU core).

    Interrupted (KeyboardInterrupt, or the consumer stops early), it terminates its workers
    before returning; workers ignore SIGINT and exit if the parent dies."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """``fn(task)`` for each task, as the worker processes finish them (serially for one worker
        or one task)."""
        tasks = list(tasks)
        if self.workers <= 1 or len(tasks) <= 1:
            yield from SerialExecutor().map_unordered(fn, tasks)
            return
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)),
                                   initializer=_worker_init)
        finished = False
        try:
            pending: set[Future[Any]] = {pool.submit(fn, t) for t in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:
                _end_workers(pool)


class DaskExecutor:
    """Runs tasks on a Dask distributed cluster: ``address`` of its scheduler, or a Client."""

    def __init__(self, scheduler: Any, timeout: float = 5.0) -> None:
        self.scheduler = scheduler
        self.timeout = timeout
        """Seconds to wait for the scheduler to answer."""

    def connect(self) -> Any:
        """A client of the scheduler; an InputError naming it if it does not answer."""
        from dask.distributed import Client

        try:
            return Client(self.scheduler, timeout=self.timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError("--scheduler", [((), (
                f"cannot reach the Dask scheduler at {self.scheduler} within "
                f"{self.timeout:g} s ({type(exc).__name__}: {exc}); is it running, and is the "
                "address (tcp://HOST:PORT) right?"), None)]) from None

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """``fn(task)`` for each task, as the Dask cluster finishes them."""
        from dask.distributed import Client, as_completed

        tasks = list(tasks)
        if not tasks:
            return
        own = not isinstance(self.scheduler, Client)
        client = self.connect() if own else self.scheduler
        try:
            futures = client.map(fn, tasks, pure=False)
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                client.cancel(futures)
        finally:
            if own:
                client.close()


def make_executor(workers: int | None = None, kind: str = "local",
                  scheduler: str | None = None) -> Executor:
    """The executor the command line asks for: ``workers`` local processes (one per core by
    default; 1 runs in this process), or a Dask cluster at ``scheduler``."""
    if kind == "dask" and not scheduler:
        raise InputError("--executor", [((), "--executor dask needs --scheduler ADDRESS", None)])
    if scheduler and kind != "dask":
        raise InputError("--scheduler", [((), "--scheduler goes with --executor dask", None)])
    if kind == "dask":
        return DaskExecutor(scheduler)
    if workers == 1:
        return SerialExecutor()
    return LocalExecutor(workers)
